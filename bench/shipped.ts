// The server as shipped (`npm start`): built dist/server.js under node, file SQLite in a temporary
// directory, default logging, the repository's policies; the fake Google and Microsoft servers
// for the calendars. Real routes of that one process side by side with its own /healthz and with
// a bare fastify route (another process), in alternating rounds. Targets are ratios in this run.
// The access line's cost: /healthz of a second server with the line against /healthz of a third
// started with ENTITLE_REQUEST_LOG=false, both serving /healthz only, with keep-alive and no
// pipelining. Not the first server's /healthz: after the other routes' loads a server's /healthz
// costs some 25 µs of CPU more per request, line or no line, and the comparison measured that.

import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeGoogle } from '../test/fakes/google-fake.js';
import { startFakeMicrosoft } from '../test/fakes/microsoft-fake.js';
import type { FakeProvider } from '../test/fakes/fake-provider.js';
import { start } from './http.js';
import { CONNECTIONS, LIGHT_CONNECTIONS, PIPELINING, runRounds, type Load, type Scenario } from './support/load.js';
import { ratio, type Row } from './support/measure.js';
import { startShippedServer, type ShippedServer } from './support/shipped-server.js';

const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 1.5);
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 5);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
/**
 * One principal per route would meet the shipped per-minute limits (calendar 120, decisions
 * 60,000) within a second. The limiter still runs on every request, at the highest limit it
 * accepts, so its cost is in the figures; only its refusals are not.
 */
const UNLIMITED = { ENTITLE_RATE_LIMIT_CALENDAR: '9999999', ENTITLE_RATE_LIMIT_DECISIONS: '9999999' };

/** A JSON request to the running server that must answer `status`. */
async function call(
  server: ShippedServer,
  token: string,
  method: string,
  path: string,
  body: unknown,
  status: number,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (response.status !== status)
    throw new Error(`${method} ${path}: expected ${status}, got ${response.status}: ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** The OAuth flow over HTTP, the fake playing the user's consent. */
async function connect(server: ShippedServer, token: string, fake: FakeProvider): Promise<void> {
  const initiated = await call(
    server,
    token,
    'POST',
    `/api/oauth/${fake.provider}/initiate/`,
    { purpose: 'calendar' },
    200,
  );
  const { code, state } = fake.authorize(initiated.authorizationUrl as string);
  await call(server, token, 'POST', `/api/oauth/${fake.provider}/callback/`, { code, state }, 201); // created
}

export async function benchShipped(rows: Row[]): Promise<void> {
  process.stderr.write('bench: building dist/ (npm run build)…\n');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const [google, microsoft] = await Promise.all([startFakeGoogle(), startFakeMicrosoft()]);
  const bare = await start('bare');
  let server: ShippedServer | undefined;
  let quiet: ShippedServer | undefined;
  let logging: ShippedServer | undefined;
  try {
    quiet = await startShippedServer({ ENTITLE_REQUEST_LOG: 'false' });
    logging = await startShippedServer({});
    server = await startShippedServer({
      ...google.env,
      ...microsoft.env,
      NODE_EXTRA_CA_CERTS: join(ROOT, 'test/fixtures/tls/ca.crt'),
      ...UNLIMITED,
    });
    const operator = /operator:\s+(ent_\S+)/.exec(server.tokens())?.[1];
    if (!operator) throw new Error(`no operator token from the first start:\n${server.output()}`);
    const s = server;
    const admin = (path: string, body: unknown) => call(s, operator, 'POST', `/api/admin${path}`, body, 201);
    await admin('/tenants', { id: 'acme', plan: 'pro' });
    await admin('/tenants', { id: 'basic', plan: 'free' });
    const token = async (tenantId: string, userId: string, role = 'member') =>
      (await admin('/tokens', { tenantId, userId, role })).token as string;
    const [connected, unconnected, free, client] = [
      await token('acme', 'alice'),
      await token('acme', 'bob'),
      await token('basic', 'carol'),
      await token('acme', 'sdk', 'client'),
    ];
    await connect(server, connected, google);
    await connect(server, connected, microsoft);
    const features = await fetch(`${server.url}/api/client/features`, {
      headers: { authorization: `Bearer ${client}` },
    });
    const etag = features.headers.get('etag');
    if (features.status !== 200 || !etag) throw new Error(`Unleash features: ${features.status} without an ETag`);

    const auth = (t: string) => ({ authorization: `Bearer ${t}` });
    const json = { 'content-type': 'application/json' };
    const scenarios = {
      bare: { server: bare, path: '/route', status: 200 },
      healthz: { server, path: '/healthz', status: 200 },
      status: { server, path: '/api/calendar/status/', status: 200, headers: auth(unconnected) },
      list: { server, path: '/api/calendar/list/', status: 200, headers: auth(unconnected) },
      listTwo: { server, path: '/api/calendar/list/', status: 200, headers: auth(connected), light: true },
      entitlements: { server, path: '/api/entitlements/', status: 200, headers: auth(unconnected) },
      ofrepSingle: {
        server,
        path: '/ofrep/v1/evaluate/flags/can_use_calendar_sync',
        status: 200,
        method: 'POST',
        headers: { ...auth(unconnected), ...json },
        body: '{"context":{}}',
      },
      ofrepBulk: {
        server,
        path: '/ofrep/v1/evaluate/flags',
        status: 200,
        method: 'POST',
        headers: { ...auth(unconnected), ...json },
        body: '{"context":{}}',
      },
      unleash304: {
        server,
        path: '/api/client/features',
        status: 304,
        headers: { ...auth(client), 'if-none-match': etag },
      },
      denied: { server, path: '/api/calendar/list/', status: 403, headers: auth(free) },
      // The access line: keep-alive connections, one request at a time each.
      bareKeepAlive: { server: bare, path: '/route', status: 200, pipelining: 1 },
      healthzKeepAlive: { server, path: '/healthz', status: 200, pipelining: 1 },
      healthzLogged: { server: logging, path: '/healthz', status: 200, pipelining: 1 },
      healthzUnlogged: { server: quiet, path: '/healthz', status: 200, pipelining: 1 },
    } satisfies Record<string, Scenario>;
    const loads = await runRounds(scenarios, ROUNDS, SECONDS);
    const database = statSync(join(server.directory, 'entitle.db')).size + walSize(server.directory);

    const section = `As shipped (npm start: dist/server.js, file SQLite, default logging, per-principal rate limits raised to 9,999,999/min; autocannon ${CONNECTIONS} connections × ${PIPELINING} pipelined; median of ${ROUNDS} alternating ${SECONDS} s rounds)`;
    const row = (name: string, l: Load, extra: Partial<Row> = {}): Row => ({
      section,
      name,
      value: `${Math.round(l.rps).toLocaleString('en')} req/s, p99 ${l.p99Ms} ms, ${l.cpuUsPerRequest.toFixed(0)} µs CPU/req`,
      raw: { ...l },
      ...extra,
    });
    const healthz = loads.healthz;
    const against = (name: string, key: keyof typeof scenarios, target?: number) => {
      const load = loads[key];
      const share = load.rps / healthz.rps;
      rows.push(
        row(name, load, {
          ratio: ratio(load.rps, healthz.rps),
          peer: '/healthz',
          ...(target ? { target: `≥ ${target.toFixed(2)}× /healthz`, met: share >= target } : {}),
        }),
      );
    };
    rows.push(row('bare fastify route (another process)', loads.bare));
    rows.push(
      row('/healthz', healthz, {
        ratio: ratio(healthz.rps, loads.bare.rps),
        peer: 'bare route',
        target: '≥ 0.60× bare',
        met: healthz.rps / loads.bare.rps >= 0.6,
      }),
    );
    against('GET /api/calendar/status/', 'status', 0.6);
    against('GET /api/calendar/list/ (no connections)', 'list', 0.5);
    against(
      `GET /api/calendar/list/ (two connections, fake providers; ${LIGHT_CONNECTIONS} connections, no pipelining)`,
      'listTwo',
    );
    against('GET /api/entitlements/', 'entitlements', 0.5);
    against('OFREP single evaluation', 'ofrepSingle', 0.6);
    against('OFREP bulk evaluation', 'ofrepBulk');
    against('Unleash features, 304', 'unleash304');
    against('gated 403 (free tenant, calendar list)', 'denied');
    rows.push({
      section,
      name: 'database after the run (file + WAL)',
      value: `${(database / 2 ** 20).toFixed(1)} MiB`,
    });
    const logged = loads.healthzLogged;
    const accessSection = `The access line as shipped (/healthz, autocannon ${CONNECTIONS} keep-alive connections, no pipelining; two more dist/server.js serving /healthz only, one with ENTITLE_REQUEST_LOG=false; same rounds)`;
    const accessRow = (name: string, l: Load, extra: Partial<Row> = {}): Row => ({
      ...row(name, l, extra),
      section: accessSection,
    });
    rows.push(accessRow('bare fastify route (another process)', loads.bareKeepAlive));
    rows.push(accessRow('/healthz without the access line', loads.healthzUnlogged));
    rows.push(
      accessRow(
        '/healthz of the server that served the routes above (with the line), vs without',
        loads.healthzKeepAlive,
        {
          ratio: ratio(loads.healthzKeepAlive.rps, loads.healthzUnlogged.rps),
          peer: '/healthz without',
        },
      ),
    );
    rows.push(
      accessRow('/healthz with the access line, vs without', logged, {
        ratio: ratio(logged.rps, loads.healthzUnlogged.rps),
        peer: '/healthz without',
        target: '≥ 0.90× without',
        met: logged.rps / loads.healthzUnlogged.rps >= 0.9,
      }),
    );
    // Like for like again: the bare process has only ever served its one route.
    rows.push(
      accessRow('/healthz with the access line, vs bare', logged, {
        ratio: ratio(logged.rps, loads.bareKeepAlive.rps),
        peer: 'bare route',
        target: '≥ 0.60× bare',
        met: logged.rps / loads.bareKeepAlive.rps >= 0.6,
      }),
    );
    rows.push(
      accessRow('/healthz of the server that served the routes above, vs bare', loads.healthzKeepAlive, {
        ratio: ratio(loads.healthzKeepAlive.rps, loads.bareKeepAlive.rps),
        peer: 'bare route',
      }),
    );
  } finally {
    await server?.stop();
    await quiet?.stop();
    await logging?.stop();
    await bare.stop();
    await Promise.all([google.close(), microsoft.close()]);
  }
}

function walSize(directory: string): number {
  try {
    return statSync(join(directory, 'entitle.db-wal')).size;
  } catch {
    return 0;
  }
}
