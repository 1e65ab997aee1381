// HTTP, all in one run: autocannon here, each server under test in a child process of its own
// (bench/http-server.ts), so the load generator never shares the server's event loop. Bare
// fastify route (the peer), the same route with authentication, with authentication and the
// gate (allowed and denied), OFREP single and bulk, the Unleash features payload (200 and 304).
// Every scenario is warmed up, then run in alternating rounds; medians. A scenario's responses
// must all carry its expected status, or the bench fails.

import type { ServerReady } from './http-server.js';
import { forkChild } from './support/child.js';
import { ratio, type Row } from './support/measure.js';
import { CONNECTIONS, PIPELINING, runRounds, type Load, type LoadTarget, type Scenario } from './support/load.js';

const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 1.5);
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 5);

export interface Server extends LoadTarget {
  readonly ready: ServerReady;
  stop(): Promise<void>;
}

export async function start(kind: 'bare' | 'app'): Promise<Server> {
  const child = await forkChild<ServerReady>(new URL('./http-server.ts', import.meta.url), [kind]);
  return {
    ready: child.ready,
    url: child.ready.url,
    cpu: async () => {
      const { usage } = await child.ask<{ usage: NodeJS.CpuUsage }>('cpu');
      return usage.user + usage.system;
    },
    stop: () => child.stop(),
  };
}

export async function benchHttp(rows: Row[]): Promise<void> {
  const [bare, app] = await Promise.all([start('bare'), start('app')]);
  const { allowed, denied, admin } = app.ready.tokens as NonNullable<ServerReady['tokens']>;
  const unleash = app.ready.unleash as NonNullable<ServerReady['unleash']>;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const json = { 'content-type': 'application/json' };
  const scenarios = {
    bare: { server: bare, path: '/route', status: 200 },
    auth: { server: app, path: '/bench/auth', status: 200, headers: auth(allowed) },
    gated: { server: app, path: '/bench/gated', status: 200, headers: auth(allowed) },
    denied: { server: app, path: '/bench/gated', status: 403, headers: auth(denied) },
    ofrepSingle: {
      server: app,
      path: '/ofrep/v1/evaluate/flags/can_use_calendar_sync',
      status: 200,
      method: 'POST',
      headers: { ...auth(allowed), ...json },
      body: '{"context":{}}',
    },
    ofrepBulk: {
      server: app,
      path: '/ofrep/v1/evaluate/flags',
      status: 200,
      method: 'POST',
      headers: { ...auth(allowed), ...json },
      body: '{"context":{}}',
    },
    unleashFull: { server: app, path: '/api/client/features', status: 200, headers: auth(admin) },
    unleash304: {
      server: app,
      path: '/api/client/features',
      status: 304,
      headers: { ...auth(admin), 'if-none-match': unleash.etag },
    },
  } satisfies Record<string, Scenario>;
  let loads: Record<keyof typeof scenarios, Load>;
  try {
    loads = await runRounds(scenarios, ROUNDS, SECONDS);
  } finally {
    await Promise.all([bare.stop(), app.stop()]);
  }
  const of = (name: keyof typeof scenarios): Load => loads[name];

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
  rows.push(
    row('route with authentication only', authLoad, { ratio: ratio(authLoad.rps, bareLoad.rps), peer: 'bare route' }),
  );
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
  rows.push(
    row('gated denial (403, one audit row each)', deniedLoad, {
      ratio: ratio(deniedLoad.rps, authLoad.rps),
      peer: 'auth only',
    }),
  );
  const ofrepSingle = of('ofrepSingle');
  const ofrepBulk = of('ofrepBulk');
  rows.push(
    row('OFREP single evaluation', ofrepSingle, { ratio: ratio(ofrepSingle.rps, authLoad.rps), peer: 'auth only' }),
  );
  rows.push(
    row('OFREP bulk evaluation (all features)', ofrepBulk, {
      ratio: ratio(ofrepBulk.rps, authLoad.rps),
      peer: 'auth only',
    }),
  );
  const full = of('unleashFull');
  const notModified = of('unleash304');
  rows.push(
    row(`Unleash features, full payload (${(unleash.bytes / 1024).toFixed(0)} KiB)`, full, {
      ratio: ratio(full.rps, authLoad.rps),
      peer: 'auth only',
    }),
  );
  rows.push(
    row('Unleash features, 304 (If-None-Match)', notModified, {
      ratio: ratio(notModified.rps, authLoad.rps),
      peer: 'auth only',
    }),
  );
}
