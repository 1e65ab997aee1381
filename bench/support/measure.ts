// Timing helpers: contenders interleaved round by round after a warm-up; the median round is the figure.

export interface Timing {
  /** Wall-clock time per operation, median round: the headline figure. */
  readonly nsPerOp: number;
  /** CPU time per operation (user + system of every thread, so parallel GC work counts), median round. */
  readonly cpuNsPerOp: number;
}

/** The middle value (upper middle for an even count). */
export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
}

/**
 * Times contenders against each other: warm-up rounds, then `rounds` rounds of `ops`
 * iterations each, the contenders taking turns within every round (starting with a different
 * one each round; two always follow each other) so that all of them see the same JIT, GC and neighbour conditions; the
 * median round is the figure. Wall-clock time is the headline; CPU time is kept too (it also
 * counts GC helper threads, which favours whoever allocates least). No collection is forced between turns: a forced full GC shrinks the young generation and
 * slows whoever allocates most afterwards. A body that returns a promise is awaited.
 */
export async function compare<K extends string>(
  ops: number,
  contenders: Record<K, (i: number) => unknown>,
  { rounds = 15, warmup = 2 } = {},
): Promise<Record<K, Timing>> {
  const entries = Object.entries(contenders) as [K, (i: number) => unknown][];
  const samples = new Map<K, { cpu: number[]; wall: number[] }>(entries.map(([name]) => [name, { cpu: [], wall: [] }]));
  for (let round = 0; round < warmup + rounds; round++) {
    for (let turn = 0; turn < entries.length; turn++) {
      // Each round starts one contender later. Two would then run the same one twice in a row
      // every other round, its data still in cache the second time: every other sample fast,
      // and a median that lands between the two kinds. Two keep one order, each after the other.
      const start = entries.length === 2 ? 0 : round;
      const [name, body] = entries[(start + turn) % entries.length] as [K, (i: number) => unknown];
      const isAsync = body(0) instanceof Promise;
      const cpu = process.cpuUsage();
      const wall = process.hrtime.bigint();
      // Each round takes the next `ops` inputs, the same ones for every contender.
      const end = (round + 1) * ops;
      if (isAsync) for (let i = round * ops; i < end; i++) await body(i);
      else for (let i = round * ops; i < end; i++) body(i);
      const wallNs = Number(process.hrtime.bigint() - wall);
      const used = process.cpuUsage(cpu);
      if (round < warmup) continue; // let the JIT settle
      const sample = samples.get(name) as { cpu: number[]; wall: number[] };
      sample.cpu.push(((used.user + used.system) * 1000) / ops);
      sample.wall.push(wallNs / ops);
    }
  }
  const result = {} as Record<K, Timing>;
  for (const [name, { cpu, wall }] of samples) result[name] = { nsPerOp: median(wall), cpuNsPerOp: median(cpu) };
  return result;
}

export interface Row {
  readonly section: string;
  readonly name: string;
  readonly value: string;
  /** "1.00×" against the peer named in `peer`. */
  readonly ratio?: string;
  readonly peer?: string;
  readonly target?: string;
  readonly met?: boolean;
  readonly raw?: Record<string, number>;
}

export function ratio(ours: number, peer: number): string {
  return `${(ours / peer).toFixed(2)}×`;
}

export function ns(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} µs/op` : `${value.toFixed(0)} ns/op`;
}
