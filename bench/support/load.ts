// One autocannon load against one route of a server in another process, with that process's
// CPU time per request; shared by the HTTP sections (bench/http.ts, bench/shipped.ts).

import autocannon from 'autocannon';
import { median } from './measure.js';

export const CONNECTIONS = 50;
// As fastify's own benchmarks do: without it the load generator, not the server, is the bottleneck.
export const PIPELINING = 10;
export const LIGHT_CONNECTIONS = 10;

/** A server under load: where it listens and how much CPU it has used so far. */
export interface LoadTarget {
  readonly url: string;
  /** The server process's CPU time so far, in microseconds. */
  cpu(): Promise<number>;
}

export interface Scenario {
  readonly server: LoadTarget;
  readonly path: string;
  readonly status: number;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /**
   * Fewer connections, no pipelining: for a route that waits on something slow (a provider), whose
   * queue of pipelined requests would otherwise go on loading the server into the next scenario.
   */
  readonly light?: boolean;
  /** Requests in flight per connection (default {@link PIPELINING}); 1: keep-alive without pipelining. */
  readonly pipelining?: number;
}

export interface Load {
  readonly rps: number;
  readonly p99Ms: number;
  /** Server CPU time per request, microseconds. */
  readonly cpuUsPerRequest: number;
}

/** Runs the scenario for `seconds`; fails when any response is not the scenario's status. */
export async function runLoad(scenario: Scenario, seconds: number): Promise<Load> {
  const cpuBefore = await scenario.server.cpu();
  const result = await autocannon({
    url: `${scenario.server.url}${scenario.path}`,
    connections: scenario.light ? LIGHT_CONNECTIONS : CONNECTIONS,
    pipelining: scenario.light ? 1 : (scenario.pipelining ?? PIPELINING),
    duration: seconds,
    method: scenario.method ?? 'GET',
    headers: scenario.headers ?? {},
    ...(scenario.body ? { body: scenario.body } : {}),
  });
  const cpu = (await scenario.server.cpu()) - cpuBefore;
  const statuses = Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => `${code}×${stats.count ?? 0}`);
  const expected = result.statusCodeStats?.[`${scenario.status}`]?.count ?? 0;
  if (result.errors > 0 || result.timeouts > 0 || expected !== result.requests.total) {
    throw new Error(
      `${scenario.path}: expected only ${scenario.status}, got ${statuses.join(', ')} with ${result.errors} errors and ${result.timeouts} timeouts`,
    );
  }
  return {
    rps: result.requests.total / seconds,
    p99Ms: result.latency.p99,
    cpuUsPerRequest: cpu / result.requests.total,
  };
}

/**
 * Warms every scenario up, then runs `rounds` rounds taking turns through all of them (a slow
 * second on a shared machine hits them all alike); the median of each figure per scenario.
 */
export async function runRounds<K extends string>(
  scenarios: Record<K, Scenario>,
  rounds: number,
  seconds: number,
): Promise<Record<K, Load>> {
  const entries = Object.entries(scenarios) as [K, Scenario][];
  const samples = new Map<K, Load[]>(entries.map(([name]) => [name, []]));
  for (const [, scenario] of entries) await runLoad(scenario, 1); // warm-up: JIT, caches
  for (let round = 0; round < rounds; round++) {
    for (const [name, scenario] of entries) samples.get(name)?.push(await runLoad(scenario, seconds));
  }
  const result = {} as Record<K, Load>;
  for (const [name, loads] of samples) {
    result[name] = {
      rps: median(loads.map((l) => l.rps)),
      p99Ms: median(loads.map((l) => l.p99Ms)),
      cpuUsPerRequest: median(loads.map((l) => l.cpuUsPerRequest)),
    };
  }
  return result;
}
