// OFREP event streams at scale: 1,000 streams open on one instance (one tenant's browser
// sessions, the default per-tenant cap), the time for an operator's change to reach all of them
// (p50, p99: from sending the write to each stream's refetchEvaluation), and the server's
// memory per open stream. Peers in the same run: the same change reaching a single open stream
// (the cost of the fan-out), and a bare node:http server holding as many SSE responses (what
// any open stream costs in memory).

import { Agent, request } from 'node:http';
import { median, ratio, type Row } from './support/measure.js';
import type { StreamsReady } from './streams-server.js';
import { forkChild } from './support/child.js';

const STREAMS = Number(process.env.BENCH_STREAMS ?? 1_000);
const ROUNDS = Number(process.env.BENCH_STREAM_ROUNDS ?? 7);

interface Server {
  readonly ready: StreamsReady;
  memory(): Promise<{ heapUsed: number; rss: number }>;
  stop(): Promise<void>;
}

async function start(kind: 'bare' | 'app'): Promise<Server> {
  const child = await forkChild<StreamsReady>(new URL('./streams-server.ts', import.meta.url), [kind], ['--expose-gc']);
  return { ready: child.ready, memory: () => child.ask('memory'), stop: () => child.stop() };
}

/** Open streams; each calls `arrived` with the time its next event came in. */
class Streams {
  readonly #agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  readonly #requests: ReturnType<typeof request>[] = [];
  #waiting: ((at: number) => void) | undefined;

  async open(url: string, count: number): Promise<void> {
    for (let batch = 0; batch < count; batch += 100) {
      await Promise.all(
        Array.from(
          { length: Math.min(100, count - batch) },
          () =>
            new Promise<void>((resolve, reject) => {
              const req = request(url, { agent: this.#agent, headers: { accept: 'text/event-stream' } }, (res) => {
                if (res.statusCode !== 200) return reject(new Error(`stream refused: ${res.statusCode}`));
                res.setEncoding('utf8');
                let buffer = '';
                let connected = false;
                res.on('data', (chunk: string) => {
                  buffer += chunk;
                  let split: number;
                  while ((split = buffer.indexOf('\n\n')) >= 0) {
                    const block = buffer.slice(0, split);
                    buffer = buffer.slice(split + 2);
                    if (!connected) {
                      connected = true;
                      resolve();
                    }
                    if (block.includes('data:')) this.#waiting?.(performance.now());
                  }
                });
              });
              req.on('error', reject);
              req.end();
              this.#requests.push(req);
            }),
        ),
      );
    }
  }

  /** Runs `change` and resolves with each stream's latency (ms) once all have their event. */
  async measure(change: () => Promise<void>): Promise<number[]> {
    const latencies: number[] = [];
    const started = performance.now();
    const all = new Promise<void>((resolve) => {
      this.#waiting = (at) => {
        latencies.push(at - started);
        if (latencies.length === this.#requests.length) resolve();
      };
    });
    await change();
    await all;
    this.#waiting = undefined;
    return latencies;
  }

  close(): void {
    for (const req of this.#requests) req.destroy();
    this.#agent.destroy();
  }
}

const percentile = (values: readonly number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))] as number;

interface Latency {
  readonly p50: number;
  readonly p99: number;
}

interface Result {
  /** The change reaching one open stream. */
  readonly one?: Latency;
  /** The change reaching every one of STREAMS open streams. */
  readonly all?: Latency;
  readonly bytesPerStream: number;
  readonly rssPerStream: number;
}

async function rounds(streams: Streams, change: () => Promise<void>): Promise<Latency> {
  // One warm-up change, then the rounds; the median round's percentiles.
  await streams.measure(change);
  const p50s: number[] = [];
  const p99s: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const latencies = await streams.measure(change);
    p50s.push(percentile(latencies, 50));
    p99s.push(percentile(latencies, 99));
  }
  return { p50: median(p50s), p99: median(p99s) };
}

async function bench(kind: 'bare' | 'app'): Promise<Result> {
  const server = await start(kind);
  const streams = new Streams();
  try {
    const { url, tokens } = server.ready;
    const before = await server.memory();
    if (!tokens) {
      await streams.open(`${url}/events`, STREAMS);
      const after = await server.memory();
      return {
        bytesPerStream: (after.heapUsed - before.heapUsed) / STREAMS,
        rssPerStream: (after.rss - before.rss) / STREAMS,
      };
    }
    const bulk = await fetch(`${url}/ofrep/v1/evaluate/flags`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.member}`, 'content-type': 'application/json' },
      body: '{}',
    });
    // Every browser session of this user gets this link in this time window.
    const link = ((await bulk.json()) as { eventStreams: { url: string }[] }).eventStreams[0]?.url as string;
    let value = false;
    const change = async () => {
      value = !value;
      const response = await fetch(`${url}/api/admin/tenants/acme/overrides/can_use_sso`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${tokens.admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ value, reason: 'bench' }),
      });
      if (response.status >= 300) throw new Error(`override: ${response.status}`);
      await response.text();
    };
    await streams.open(link, 1);
    const one = await rounds(streams, change);
    await streams.open(link, STREAMS - 1);
    const after = await server.memory();
    const all = await rounds(streams, change);
    return {
      one,
      all,
      bytesPerStream: (after.heapUsed - before.heapUsed) / STREAMS,
      rssPerStream: (after.rss - before.rss) / STREAMS,
    };
  } finally {
    streams.close();
    await server.stop();
  }
}

export async function benchStreams(rows: Row[]): Promise<void> {
  const section = `OFREP event streams: ${STREAMS.toLocaleString('en')} open on one instance, one tenant`;
  const bare = await bench('bare');
  const app = await bench('app');
  const one = app.one as Latency;
  const all = app.all as Latency;
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const kib = (value: number) => `${(value / 1024).toFixed(1)} KiB`;
  rows.push({
    section,
    name: 'override written → refetchEvaluation on 1 stream, p50 / p99',
    value: `${ms(one.p50)} / ${ms(one.p99)}`,
    raw: { ...one },
  });
  rows.push({
    section,
    name: `override written → refetchEvaluation on all ${STREAMS.toLocaleString('en')}, p50 / p99`,
    value: `${ms(all.p50)} / ${ms(all.p99)}`,
    ratio: ratio(all.p99, one.p99),
    peer: '1 stream (p99)',
    target: 'p99 < 1 s',
    met: all.p99 < 1_000,
    raw: { ...all },
  });
  rows.push({
    section,
    name: 'bare node:http SSE: memory per open stream (heap, RSS)',
    value: `${kib(bare.bytesPerStream)}, ${kib(bare.rssPerStream)}`,
    raw: { heap: bare.bytesPerStream, rss: bare.rssPerStream },
  });
  rows.push({
    section,
    name: 'Entitle: memory per open stream (heap, RSS)',
    value: `${kib(app.bytesPerStream)}, ${kib(app.rssPerStream)}`,
    ratio: ratio(app.bytesPerStream, bare.bytesPerStream),
    peer: 'bare SSE (heap)',
    raw: { heap: app.bytesPerStream, rss: app.rssPerStream },
  });
}
