// Metered consumes: throughput and p99 of `Meters.consume` (the service as `npm start` opens it:
// openServices with the default configuration, one store per instance) against the floor of a
// plain conditional `UPDATE … SET used = used + 1 WHERE … AND used + 1 <= limit` on the same
// database through the bare driver, the same number of requests in flight. SQLite: one
// process. PostgreSQL: two instances (two services, two pools) on one schema, against two bare
// pools. Every consume hits the same counter row, the contended case the issue is about.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { openServices, type EntitleServices } from '../src/services.js';
import { median, ratio, type Row } from './support/measure.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const FEATURE = 'sms_reminders_per_month';
const ALLOWANCE = 1_000_000_000;
const ROUNDS = 5;
const PER_ROUND = 2_000;
const IN_FLIGHT = 16;
const TARGET = 0.5;

interface Figures {
  readonly perSecond: number;
  readonly p99Ms: number;
}

/** Runs `total` calls of `call`, `inFlight` at a time; throughput and p99 latency. */
async function drive(total: number, inFlight: number, call: (i: number) => Promise<unknown>): Promise<Figures> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await call(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: total / seconds, p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0 };
}

/** Rounds alternating between the contenders; the median round of each. */
async function duel(
  ours: (i: number) => Promise<unknown>,
  floor: (i: number) => Promise<unknown>,
): Promise<{ ours: Figures; floor: Figures }> {
  const a: Figures[] = [];
  const b: Figures[] = [];
  await drive(200, IN_FLIGHT, ours); // warm-up
  await drive(200, IN_FLIGHT, floor);
  for (let round = 0; round < ROUNDS; round++) {
    a.push(await drive(PER_ROUND, IN_FLIGHT, ours));
    b.push(await drive(PER_ROUND, IN_FLIGHT, floor));
  }
  const pick = (figures: Figures[]): Figures => ({
    perSecond: median(figures.map((f) => f.perSecond)),
    p99Ms: median(figures.map((f) => f.p99Ms)),
  });
  return { ours: pick(a), floor: pick(b) };
}

async function openInstance(env: Record<string, string>): Promise<EntitleServices> {
  return openServices({ config: loadConfig({ ENTITLE_SEED_DEMO: 'false', ...env }), logger: quiet });
}

/** A tenant with a huge allowance, so that every consume is granted. */
async function prepare(services: EntitleServices): Promise<void> {
  const ctx = { actor: 'bench' };
  await services.operations.createTenant({ id: 'bench', plan: 'pro' }, ctx);
  await services.operations.setOverride(
    { tenantId: 'bench', feature: FEATURE, value: ALLOWANCE, reason: 'bench', expiresAt: null },
    ctx,
  );
  await services.tenants.sync();
}

const consume = (services: EntitleServices) => () =>
  services.meters.consume({ tenantId: 'bench', feature: FEATURE, amount: 1, context: { actor: 'bench' } });

function rowsFor(rows: Row[], section: string, result: { ours: Figures; floor: Figures }): void {
  const achieved = result.ours.perSecond / result.floor.perSecond;
  rows.push({
    section,
    name: 'floor: plain conditional UPDATE (bare driver)',
    value: `${Math.round(result.floor.perSecond).toLocaleString('en')} /s`,
    raw: { perSecond: result.floor.perSecond, p99Ms: result.floor.p99Ms },
  });
  rows.push({
    section,
    name: 'floor p99',
    value: `${result.floor.p99Ms.toFixed(2)} ms`,
    raw: { p99Ms: result.floor.p99Ms },
  });
  rows.push({
    section,
    name: 'Meters.consume (period, decision, conditional UPDATE, answer)',
    value: `${Math.round(result.ours.perSecond).toLocaleString('en')} /s`,
    ratio: ratio(result.ours.perSecond, result.floor.perSecond),
    peer: 'floor',
    target: `≥ ${TARGET}×`,
    met: achieved >= TARGET,
    raw: { perSecond: result.ours.perSecond, p99Ms: result.ours.p99Ms },
  });
  rows.push({
    section,
    name: 'Meters.consume p99',
    value: `${result.ours.p99Ms.toFixed(2)} ms`,
    ratio: ratio(result.ours.p99Ms, result.floor.p99Ms),
    peer: 'floor p99',
    raw: { p99Ms: result.ours.p99Ms },
  });
}

async function benchSqlite(rows: Row[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-bench-usage-'));
  const path = join(dir, 'entitle.db');
  const services = await openInstance({ ENTITLE_DB: path });
  const bare = new Database(path);
  try {
    await prepare(services);
    bare.pragma('journal_mode = WAL');
    bare.pragma('synchronous = NORMAL');
    bare.pragma('busy_timeout = 5000');
    bare.exec(
      'CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, used INTEGER NOT NULL) STRICT; INSERT INTO bench_floor VALUES (1, 0);',
    );
    const update = bare.prepare('UPDATE bench_floor SET used = used + ? WHERE id = 1 AND used + ? <= ?');
    const floor = async () => update.run(1, 1, ALLOWANCE);
    rowsFor(
      rows,
      `metered consume (SQLite, one process, ${IN_FLIGHT} in flight, one counter row)`,
      await duel(consume(services), floor),
    );
  } finally {
    bare.close();
    await services.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchPostgres(rows: Row[]): Promise<void> {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await probe.connect();
  } catch {
    rows.push({ section: 'metered consume (PostgreSQL)', name: 'skipped: no PostgreSQL at DATABASE_URL', value: '-' });
    return;
  }
  const schema = `entitle_bench_usage_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'entitle-bench-usage-'));
  const env = { DATABASE_URL: url, DATABASE_SCHEMA: schema, ENTITLE_DB: join(dir, 'unused.db') };
  const first = await openInstance(env);
  const second = await openInstance(env);
  // The floor's two "instances": two bare pools of the same size as the store's.
  const pools = [0, 1].map(() => new pg.Pool({ connectionString: url, max: 10, options: `-c search_path=${schema}` }));
  try {
    await prepare(first);
    await second.tenants.sync();
    await probe.query(
      `CREATE TABLE "${schema}".bench_floor (id INTEGER PRIMARY KEY, used BIGINT NOT NULL); INSERT INTO "${schema}".bench_floor VALUES (1, 0);`,
    );
    const instances = [first, second];
    const ours = (i: number) => consume(instances[i % 2] as EntitleServices)();
    const floor = (i: number) =>
      (pools[i % 2] as pg.Pool).query({
        name: 'floor',
        text: 'UPDATE bench_floor SET used = used + $1 WHERE id = 1 AND used + $1 <= $2',
        values: [1, ALLOWANCE],
      });
    rowsFor(
      rows,
      `metered consume (PostgreSQL, two instances, ${IN_FLIGHT} in flight, one counter row)`,
      await duel(ours, floor),
    );
  } finally {
    await Promise.all(pools.map((pool) => pool.end()));
    await first.close();
    await second.close();
    await probe.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await probe.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchUsage(rows: Row[]): Promise<void> {
  await benchSqlite(rows);
  await benchPostgres(rows);
}
