// Scale: the shipped server (`node dist/server.js`) on a store of 10k → 100k → 1M tenants, filled
// by SQL (10% with an override), on file SQLite and, when DATABASE_URL is set, on PostgreSQL.
// Reported per size: ready time (spawn until /healthz answers), cold-tenant first decision and
// warm decision latency through GET /api/entitlements/ (each tenant with its own API token), RSS
// after 10,000 distinct tenants served; and the directory's own first read of a tenant, in process.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import { TenantDirectory } from '../src/entitlements/tenant-directory.js';
import { hashToken } from '../src/auth/api-tokens.js';
import { openStore } from '../src/store/open-store.js';
import type { EntitleStore } from '../src/store/store.js';
import type { Row } from './support/measure.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SIZES = (process.env.BENCH_SCALE_TENANTS ?? '0,10000,100000,1000000').split(',').map(Number);
/** Distinct tenants served per size: the issue's "10,000 tenants served". */
const SERVED = Number(process.env.BENCH_SCALE_SERVED ?? 10_000);
/** Requests on other tenants first, so that the JIT has warmed up before the figures. */
const WARMUP = 200;
const AT = '2026-01-01T00:00:00.000Z';

interface Dialect {
  readonly name: 'SQLite' | 'PostgreSQL';
  /** A fresh store filled with `tenants` tenants and the served tenants' tokens; returns the server's env. */
  fill(tenants: number, served: readonly number[]): Promise<{ env: Record<string, string>; drop(): Promise<void> }>;
}

const tenantId = (i: number) => `t${String(i).padStart(7, '0')}`;
/** An operator's token (role admin, on tenant 1) to read /metrics with: the heap behind the RSS. */
const ADMIN_TOKEN = `ent_ffffffffffff_${createHash('sha256').update('bench-scale-admin').digest('base64url')}`;

/** A well-formed API token per tenant index (ent_<12 hex>_<43 base64url>), deterministic. */
function tokenOf(i: number): { id: string; token: string } {
  const id = i.toString(16).padStart(12, '0');
  const secret = createHash('sha256').update(`bench-scale-${i}`).digest('base64url');
  return { id, token: `ent_${id}_${secret}` };
}

const sqlite: Dialect = {
  name: 'SQLite',
  async fill(tenants, served) {
    const directory = mkdtempSync(join(tmpdir(), 'entitle-scale-'));
    const path = join(directory, 'entitle.db');
    await (await openStore({ databasePath: path, databaseUrl: undefined, databaseSchema: undefined })).close();
    const db = new Database(path);
    db.exec(`
      WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ${tenants})
      INSERT INTO tenants (id, name, plan, created_at, updated_at, plan_version)
      SELECT printf('t%07d', i), printf('Tenant %d', i),
             CASE i % 4 WHEN 0 THEN 'free' WHEN 1 THEN 'pro' WHEN 2 THEN 'business' ELSE 'enterprise' END,
             '${AT}', '${AT}', 1
      FROM seq WHERE i < ${tenants};
      WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ${tenants})
      INSERT INTO overrides (tenant_id, feature, value, reason, actor, expires_at, created_at, updated_at, version)
      SELECT printf('t%07d', i), 'can_use_webhooks', 'true', 'bench', 'bench', NULL, '${AT}', '${AT}', 1
      FROM seq WHERE i % 10 = 0 AND i < ${tenants};
    `);
    const insert = db.prepare(
      `INSERT INTO api_tokens (id, tenant_id, user_id, role, name, secret_hash, created_at) VALUES (?, ?, 'u', 'member', NULL, ?, '${AT}')`,
    );
    db.transaction(() => {
      for (const i of served) insert.run(tokenOf(i).id, tenantId(i), hashToken(tokenOf(i).token));
    })();
    if (tenants > 1)
      db.prepare(
        `INSERT INTO api_tokens (id, tenant_id, user_id, role, name, secret_hash, created_at) VALUES ('ffffffffffff', ?, 'ops', 'admin', NULL, ?, '${AT}')`,
      ).run(tenantId(1), hashToken(ADMIN_TOKEN));
    // A live store keeps the newest 10,000 changes, not one per row of a bulk fill.
    db.exec('DELETE FROM changes WHERE seq < (SELECT max(seq) FROM changes) - 10000; VACUUM;');
    db.close();
    return {
      env: { ENTITLE_DB: path, DATABASE_URL: '' },
      drop: async () => rmSync(directory, { recursive: true, force: true }),
    };
  },
};

function postgres(url: string): Dialect {
  return {
    name: 'PostgreSQL',
    async fill(tenants, served) {
      const schema = `entitle_scale_${randomBytes(4).toString('hex')}`;
      await (await openStore({ databasePath: ':memory:', databaseUrl: url, databaseSchema: schema })).close();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`SET search_path = "${schema}"`);
        await client.query(
          `INSERT INTO tenants (id, name, plan, created_at, updated_at, plan_version)
           SELECT 't' || lpad(i::text, 7, '0'), 'Tenant ' || i, (ARRAY['free','pro','business','enterprise'])[i % 4 + 1], $1, $1, 1
           FROM generate_series(0, $2::int - 1) AS i`,
          [AT, tenants],
        );
        await client.query(
          `INSERT INTO overrides (tenant_id, feature, value, reason, actor, expires_at, created_at, updated_at, version)
           SELECT 't' || lpad(i::text, 7, '0'), 'can_use_webhooks', 'true', 'bench', 'bench', NULL, $1, $1, 1
           FROM generate_series(0, $2::int - 1, 10) AS i`,
          [AT, tenants],
        );
        const rows = served.map((i) => [tokenOf(i).id, tenantId(i), hashToken(tokenOf(i).token)]);
        await client.query(
          `INSERT INTO api_tokens (id, tenant_id, user_id, role, name, secret_hash, created_at)
           SELECT id, tenant_id, 'u', 'member', NULL, secret_hash, $1 FROM unnest($2::text[], $3::text[], $4::text[]) AS t(id, tenant_id, secret_hash)`,
          [AT, rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])],
        );
        if (tenants > 1)
          await client.query(
            `INSERT INTO api_tokens (id, tenant_id, user_id, role, name, secret_hash, created_at) VALUES ('ffffffffffff', $1, 'ops', 'admin', NULL, $2, $3)`,
            [tenantId(1), hashToken(ADMIN_TOKEN), AT],
          );
        await client.query('DELETE FROM changes WHERE seq < (SELECT max(seq) FROM changes) - 10000');
        await client.query('ANALYZE');
      } finally {
        await client.end();
      }
      return {
        env: { ENTITLE_DB: ':memory:', DATABASE_URL: url, DATABASE_SCHEMA: schema },
        drop: async () => {
          const admin = new pg.Client({ connectionString: url });
          await admin.connect();
          await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await admin.end();
        },
      };
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts dist/server.js and waits until /healthz answers; returns the time that took. */
async function startServer(env: Record<string, string>) {
  const port = await freePort();
  const logDirectory = mkdtempSync(join(tmpdir(), 'entitle-scale-log-'));
  const logFile = join(logDirectory, 'server.log');
  const log = openSync(logFile, 'a');
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, ['dist/server.js'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ENTITLE_SEED_DEMO: 'false', ...env },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  for (;;) {
    if (exited !== undefined)
      throw new Error(`dist/server.js exited with ${exited}:\n${readFileSync(logFile, 'utf8')}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (performance.now() - started > 120_000) throw new Error('dist/server.js not ready in 120 s');
    await delay(5);
  }
  const readyMs = performance.now() - started;
  return {
    url,
    readyMs,
    rssMiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024,
    stop: async () => {
      if (exited === undefined) {
        const done = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await done;
      }
      rmSync(logDirectory, { recursive: true, force: true });
    },
  };
}

/** One GET /api/entitlements/ with the tenant's token; its latency in ms. */
async function decisionMs(url: string, i: number): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${url}/api/entitlements/`, {
    headers: { authorization: `Bearer ${tokenOf(i).token}` },
  });
  const body = (await response.json()) as { tenant?: string };
  const ms = performance.now() - started;
  if (response.status !== 200 || body.tenant !== tenantId(i))
    throw new Error(`/api/entitlements/ for ${tenantId(i)}: ${response.status} ${JSON.stringify(body).slice(0, 200)}`);
  return ms;
}

const quantile = (values: readonly number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))] as number;
const ms = (value: number) => `${value.toFixed(2)} ms`;

/** The directory's own first read of each served tenant (one indexed read), in this process. */
async function directoryReads(
  env: Record<string, string>,
  served: readonly number[],
  warmup: readonly number[],
): Promise<number[]> {
  const store: EntitleStore = await openStore({
    databasePath: env.ENTITLE_DB ?? ':memory:',
    databaseUrl: env.DATABASE_URL || undefined,
    databaseSchema: env.DATABASE_SCHEMA,
  });
  const directory = await TenantDirectory.open(store);
  try {
    for (const i of warmup) await directory.load(tenantId(i));
    const times: number[] = [];
    for (const i of served) {
      const started = performance.now();
      if (!(await directory.load(tenantId(i)))) throw new Error(`${tenantId(i)} not found`);
      times.push(performance.now() - started);
    }
    return times;
  } finally {
    directory.close();
    await store.close();
  }
}

export async function benchScale(rows: Row[]): Promise<void> {
  process.stderr.write('bench: building dist/ (npm run build)…\n');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const dialects = [sqlite, ...(process.env.DATABASE_URL ? [postgres(process.env.DATABASE_URL)] : [])];
  for (const dialect of dialects) {
    for (const size of SIZES) {
      const section = `scale: ${dialect.name}, ${size === 0 ? 'an empty store' : `${size.toLocaleString('en')} tenants (10% with an override)`}`;
      // Even ids spread over the whole table are measured; odd ones warm the server up first.
      const count = Math.min(SERVED, Math.floor(size / 2));
      const served = Array.from({ length: count }, (_, k) => 2 * Math.floor((k * size) / (2 * count)));
      const warmup = Array.from({ length: Math.min(WARMUP, count) }, (_, k) => (served[k] as number) + 1);
      process.stderr.write(`bench: ${section}: filling…\n`);
      const fillStarted = performance.now();
      const filled = await dialect.fill(size, [...served, ...warmup]);
      const fillS = (performance.now() - fillStarted) / 1000;
      try {
        const server = await startServer(filled.env);
        const readyRss = server.rssMiB();
        const cold: number[] = [];
        const warm: number[] = [];
        let rss = 0;
        let heapUsed = Number.NaN;
        let heapTotal = Number.NaN;
        try {
          for (const i of warmup) for (let n = 0; n < 3; n++) await decisionMs(server.url, i);
          // Each tenant's first request (cold: its token and its tenant are read) and its second
          // (warm), one after the other: both see the same load on this shared machine.
          for (const i of served) {
            cold.push(await decisionMs(server.url, i));
            warm.push(await decisionMs(server.url, i));
          }
          rss = server.rssMiB();
          const metrics = await (
            await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
          ).text();
          heapUsed = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN) / 2 ** 20;
          heapTotal = Number(/^nodejs_heap_size_total_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN) / 2 ** 20;
        } finally {
          await server.stop();
        }
        const load = loadavg()
          .map((value) => value.toFixed(2))
          .join(' ');
        if (size === 0) {
          rows.push({
            section,
            name: `ready: spawn until /healthz answers (load average ${load})`,
            value: ms(server.readyMs),
            target: '≤ 500 ms',
            met: server.readyMs <= 500,
          });
          continue;
        }
        const reads = await directoryReads(filled.env, served.slice(0, 2_000), warmup);
        const coldTarget = dialect.name === 'SQLite' ? 2 : 5;
        rows.push(
          { section, name: `filled by SQL in (then load average ${load})`, value: `${fillS.toFixed(1)} s` },
          {
            section,
            name: 'ready: spawn until /healthz answers',
            value: ms(server.readyMs),
            ...(size >= 1_000_000 ? { target: '≤ 1000 ms', met: server.readyMs <= 1000 } : {}),
          },
          { section, name: 'RSS when ready', value: `${readyRss.toFixed(0)} MiB` },
          {
            section,
            name: `RSS after ${count.toLocaleString('en')} distinct tenants served`,
            value: `${rss.toFixed(0)} MiB`,
            target: '≤ 300 MiB',
            met: rss <= 300,
          },
          {
            section,
            name: 'of which the JS heap: used / total (/metrics)',
            value: `${heapUsed.toFixed(0)} / ${heapTotal.toFixed(0)} MiB`,
          },
          { section, name: 'cold tenant, first GET /api/entitlements/: p50', value: ms(quantile(cold, 0.5)) },
          { section, name: 'cold tenant, first GET /api/entitlements/: p99', value: ms(quantile(cold, 0.99)) },
          {
            section,
            name: 'warm tenant (its second request), GET /api/entitlements/: p50',
            value: ms(quantile(warm, 0.5)),
          },
          {
            section,
            name: 'warm tenant (its second request), GET /api/entitlements/: p99',
            value: ms(quantile(warm, 0.99)),
          },
          {
            section,
            name: 'cold p99 minus warm p99 (the first request also reads its token)',
            value: ms(quantile(cold, 0.99) - quantile(warm, 0.99)),
            target: `≤ ${coldTarget} ms`,
            met: quantile(cold, 0.99) - quantile(warm, 0.99) <= coldTarget,
          },
          { section, name: "the directory's first read of a tenant, in process: p50", value: ms(quantile(reads, 0.5)) },
          {
            section,
            name: "the directory's first read of a tenant, in process: p99",
            value: ms(quantile(reads, 0.99)),
            target: `≤ ${coldTarget} ms`,
            met: quantile(reads, 0.99) <= coldTarget,
          },
        );
      } finally {
        await filled.drop();
      }
    }
  }
}
