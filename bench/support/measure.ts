// Timing helpers: warm up, then several timed rounds; the median round is the figure.

export interface Timing {
  readonly nsPerOp: number;
  readonly opsPerSecond: number;
}

/** Times `body(i)` for `ops` iterations per round; `body` may be async (awaited each time). */
export async function timeOps(ops: number, body: (i: number) => unknown, rounds = 5): Promise<Timing> {
  const run = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) {
      const result = body(i);
      if (result instanceof Promise) await result;
    }
    return Number(process.hrtime.bigint() - start) / ops;
  };
  await run(); // warm-up: let the JIT settle
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) samples.push(await run());
  samples.sort((a, b) => a - b);
  const nsPerOp = samples[Math.floor(samples.length / 2)] as number;
  return { nsPerOp, opsPerSecond: 1e9 / nsPerOp };
}

/** Times a synchronous body without any await in the loop. */
export function timeSync(ops: number, body: (i: number) => unknown, rounds = 5): Timing {
  const run = (): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) body(i);
    return Number(process.hrtime.bigint() - start) / ops;
  };
  run();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) samples.push(run());
  samples.sort((a, b) => a - b);
  const nsPerOp = samples[Math.floor(samples.length / 2)] as number;
  return { nsPerOp, opsPerSecond: 1e9 / nsPerOp };
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
