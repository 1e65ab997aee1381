// HTTP, all in one run: autocannon here, each server under test in a child process of its own
// (bench/http-server.ts), so the load generator never shares the server's event loop. Bare
// fastify route (the peer), the same route with authentication, with authentication and the
// gate (allowed and denied), OFREP single and bulk, the Unleash features payload (200 and 304).
// Every scenario is warmed up, then run in alternating rounds; medians. A scenario's responses
// must all carry its expected status, or the bench fails.

import autocannon from 'autocannon';
import type { ServerReady } from './http-server.js';
import { forkChild } from './support/child.js';
import { median, ratio, type Row } from './support/measure.js';

const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 1.5);
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 5);
const CONNECTIONS = 50;
// As fastify's own benchmarks do: without it the load generator, not the server, is the bottleneck.
const PIPELINING = 10;

interface Server {
  readonly ready: ServerReady;
  /** The child's CPU time so far, in microseconds. */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

async function start(kind: 'bare' | 'app'): Promise<Server> {
  const child = await forkChild<ServerReady>(new URL('./http-server.ts', import.meta.url), [kind]);
  return {
    ready: child.ready,
    cpu: async () => {
      const { usage } = await child.ask<{ usage: NodeJS.CpuUsage }>('cpu');
      return usage.user + usage.system;
    },
    stop: () => child.stop(),
  };
}

interface Scenario {
  readonly server: Server;
  readonly path: string;
  readonly status: number;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

interface Load {
  readonly rps: number;
  readonly p99Ms: number;
  /** Server CPU time per request, microseconds. */
  readonly cpuUsPerRequest: number;
}

async function run(scenario: Scenario, seconds: number): Promise<Load> {
  const cpuBefore = await scenario.server.cpu();
  const result = await autocannon({
    url: `${scenario.server.ready.url}${scenario.path}`,
    connections: CONNECTIONS,
    pipelining: PIPELINING,
    duration: seconds,
    method: scenario.method ?? 'GET',
    headers: scenario.headers ?? {},
    ...(scenario.body ? { body: scenario.body } : {}),
  });
  const cpu = (await scenario.server.cpu()) - cpuBefore;
  const statuses = Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => `${code}×${stats.count ?? 0}`);
  const expected = result.statusCodeStats?.[`${scenario.status}`]?.count ?? 0;
  if (result.errors > 0 || result.timeouts > 0 || expected !== result.requests.total) {
    throw new Error(`${scenario.path}: expected only ${scenario.status}, got ${statuses.join(', ')} with ${result.errors} errors and ${result.timeouts} timeouts`);
  }
  return { rps: result.requests.total / seconds, p99Ms: result.latency.p99, cpuUsPerRequest: cpu / result.requests.total };
}

export async function benchHttp(rows: Row[]): Promise<void> {
  const [bare, app] = await Promise.all([start('bare'), start('app')]);
  const { allowed, denied, admin } = app.ready.tokens as NonNullable<ServerReady['tokens']>;
  const unleash = app.ready.unleash as NonNullable<ServerReady['unleash']>;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const json = { 'content-type': 'application/json' };
  const scenarios: Record<string, Scenario> = {
    bare: { server: bare, path: '/route', status: 200 },
    auth: { server: app, path: '/bench/auth', status: 200, headers: auth(allowed) },
    gated: { server: app, path: '/bench/gated', status: 200, headers: auth(allowed) },
    denied: { server: app, path: '/bench/gated', status: 403, headers: auth(denied) },
    ofrepSingle: { server: app, path: '/ofrep/v1/evaluate/flags/can_use_calendar_sync', status: 200, method: 'POST', headers: { ...auth(allowed), ...json }, body: '{"context":{}}' },
    ofrepBulk: { server: app, path: '/ofrep/v1/evaluate/flags', status: 200, method: 'POST', headers: { ...auth(allowed), ...json }, body: '{"context":{}}' },
    unleashFull: { server: app, path: '/api/client/features', status: 200, headers: auth(admin) },
    unleash304: { server: app, path: '/api/client/features', status: 304, headers: { ...auth(admin), 'if-none-match': unleash.etag } },
  };
  const samples: Record<string, Load[]> = {};
  try {
    for (const scenario of Object.values(scenarios)) await run(scenario, 1); // warm-up: JIT, caches
    // Rounds take turns through every scenario: a slow second on a shared machine hits them all alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, scenario] of Object.entries(scenarios)) (samples[name] ??= []).push(await run(scenario, SECONDS));
    }
  } finally {
    await Promise.all([bare.stop(), app.stop()]);
  }
  const of = (name: string): Load => {
    const loads = samples[name] as Load[];
    return { rps: median(loads.map((l) => l.rps)), p99Ms: median(loads.map((l) => l.p99Ms)), cpuUsPerRequest: median(loads.map((l) => l.cpuUsPerRequest)) };
  };

  const section = `HTTP (autocannon ${CONNECTIONS} connections × ${PIPELINING} pipelined; server in a child process; median of ${ROUNDS} alternating ${SECONDS} s rounds; ${unleash.tenants.toLocaleString('en')} tenants)`;
  const row = (name: string, l: Load, extra: Partial<Row> = {}): Row => ({
    section,
    name,
    value: `${Math.round(l.rps).toLocaleString('en')} req/s, ${l.cpuUsPerRequest.toFixed(0)} µs CPU/req`,
    raw: { ...l },
    ...extra,
  });
  const [bareLoad, authLoad, gatedLoad, deniedLoad] = [of('bare'), of('auth'), of('gated'), of('denied')];
  const gateCost = 1 - gatedLoad.rps / authLoad.rps;
  rows.push(row('bare fastify route', bareLoad));
  rows.push(row('route with authentication only', authLoad, { ratio: ratio(authLoad.rps, bareLoad.rps), peer: 'bare route' }));
  rows.push(
    row('route with authentication + gate (allowed)', gatedLoad, {
      ratio: ratio(gatedLoad.rps, authLoad.rps),
      peer: `auth only (gate costs ${(gateCost * 100).toFixed(1)}% of throughput, ${(gatedLoad.cpuUsPerRequest - authLoad.cpuUsPerRequest).toFixed(1)} µs CPU/req)`,
      target: 'gate ≤ 10% of auth-only throughput',
      met: gateCost <= 0.1,
    }),
  );
  rows.push(
    row('whole stack (auth + gate) vs bare', gatedLoad, {
      ratio: ratio(gatedLoad.rps, bareLoad.rps),
      peer: 'bare route',
      target: '≥ 0.60× of bare',
      met: gatedLoad.rps / bareLoad.rps >= 0.6,
    }),
  );
  rows.push(row('gated denial (403, one audit row each)', deniedLoad, { ratio: ratio(deniedLoad.rps, authLoad.rps), peer: 'auth only' }));
  const ofrepSingle = of('ofrepSingle');
  const ofrepBulk = of('ofrepBulk');
  rows.push(row('OFREP single evaluation', ofrepSingle, { ratio: ratio(ofrepSingle.rps, authLoad.rps), peer: 'auth only' }));
  rows.push(row('OFREP bulk evaluation (all features)', ofrepBulk, { ratio: ratio(ofrepBulk.rps, authLoad.rps), peer: 'auth only' }));
  const full = of('unleashFull');
  const notModified = of('unleash304');
  rows.push(row(`Unleash features, full payload (${(unleash.bytes / 1024).toFixed(0)} KiB)`, full, { ratio: ratio(full.rps, authLoad.rps), peer: 'auth only' }));
  rows.push(row('Unleash features, 304 (If-None-Match)', notModified, { ratio: ratio(notModified.rps, authLoad.rps), peer: 'auth only' }));
}
