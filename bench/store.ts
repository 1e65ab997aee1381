// The store on each dialect, as `npm start` runs it (SQLite file in WAL mode; PostgreSQL when a
// server answers at DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test): override
// writes per second (the admin path: transaction + audit row + change row + directory sync) and
// the start-up load of 100,000 tenants into the tenant directory. Peer: the same two operations
// on the other dialect in the same run, and plain driver calls for the write.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { TenantDirectory } from '../src/entitlements/tenant-directory.js';
import { openStore } from '../src/store/open-store.js';
import type { EntitleStore } from '../src/store/store.js';
import { DUMP_FORMAT, importStore } from '../src/store/transfer.js';
import { TenantOperations } from '../src/tenants/tenant-operations.js';
import { median, type Row } from './support/measure.js';
import { compile, generatePolicyText } from './support/workload.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TENANTS = 100_000;
const OVERRIDE_SHARE = 10;
const ROUNDS = 5;
const WRITES_PER_ROUND = 500;
const WARM_UP_WRITES = 1500;
const ctx = { actor: 'bench' };

/** A dump of 100,000 tenants, one in ten with an override, imported in one transaction. */
function dump(): unknown {
  const at = new Date().toISOString();
  const tenants = Array.from({ length: TENANTS }, (_, i) => ({
    id: `t${i}`,
    name: `t${i}`,
    plan: `plan_${i % 4}`,
    created_at: at,
    updated_at: at,
  }));
  const overrides = tenants
    .filter((_, i) => i % OVERRIDE_SHARE === 0)
    .map((tenant) => ({
      tenant_id: tenant.id,
      feature: 'feature_1',
      value: 'true',
      reason: 'bench',
      actor: 'bench',
      expires_at: null,
      created_at: at,
      updated_at: at,
      version: 1,
    }));
  return {
    format: DUMP_FORMAT,
    exportedAt: at,
    from: 'sqlite',
    tables: {
      tenants,
      overrides,
      api_tokens: [],
      connections: [],
      connection_calendars: [],
      busy_blocks: [],
      audit_log: [],
    },
  };
}

async function postgresUrl(): Promise<string | undefined> {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.end();
    return url;
  } catch {
    return undefined;
  }
}

async function measure(store: EntitleStore): Promise<{ loadMs: number; writesPerSecond: number }> {
  const policy = compile(generatePolicyText(50, 4));
  await importStore(store, dump(), ctx);
  const loads: number[] = [];
  // Seven loads: 100,000 rows make every load a garbage collector's lottery; the median holds.
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    const directory = await TenantDirectory.open(store, { logger: quiet });
    loads.push(performance.now() - start);
    directory.close();
  }
  const directory = await TenantDirectory.open(store, { logger: quiet });
  const operations = new TenantOperations({ store, policy: () => policy });
  const rates: number[] = [];
  let written = 0;
  // The n-th write: tenants spread over the whole table, the value flipping so each one writes.
  const write = () =>
    operations.setOverride(
      { tenantId: `t${(written * 7919) % TENANTS}`, feature: 'feature_0', value: written++ % 2 === 0, reason: 'bench' },
      ctx,
    );
  // Not counted: the first writes after a 100,000-row import pay its WAL checkpoints and cold
  // pages, which a running server has long since paid.
  while (written < WARM_UP_WRITES) await write();
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    for (let i = 0; i < WRITES_PER_ROUND; i++) await write();
    rates.push((WRITES_PER_ROUND * 1000) / (performance.now() - start));
  }
  directory.close();
  return { loadMs: median(loads), writesPerSecond: median(rates) };
}

export async function benchStore(rows: Row[]): Promise<void> {
  const section = `store on each dialect (${TENANTS.toLocaleString('en')} tenants, ${(TENANTS / OVERRIDE_SHARE).toLocaleString('en')} overrides)`;
  const dir = mkdtempSync(join(tmpdir(), 'entitle-bench-store-'));
  const results: [string, { loadMs: number; writesPerSecond: number }][] = [];
  const sqlite = await openStore({
    databasePath: join(dir, 'bench.db'),
    databaseUrl: undefined,
    databaseSchema: undefined,
  });
  try {
    results.push(['SQLite', await measure(sqlite)]);
  } finally {
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const url = await postgresUrl();
  if (url) {
    const schema = `entitle_bench_${randomBytes(4).toString('hex')}`;
    const postgres = await openStore({ databasePath: ':memory:', databaseUrl: url, databaseSchema: schema });
    try {
      results.push(['PostgreSQL', await measure(postgres)]);
    } finally {
      await postgres.close();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA "${schema}" CASCADE`);
      await client.end();
    }
  } else {
    rows.push({ section, name: 'PostgreSQL', value: 'not measured: no server at DATABASE_URL' });
  }
  for (const [name, result] of results) {
    rows.push({
      section,
      name: `${name}: override write (admin path, directory in sync)`,
      value: `${Math.round(result.writesPerSecond).toLocaleString('en')} writes/s`,
      raw: { writesPerSecond: result.writesPerSecond },
    });
    rows.push({
      section,
      name: `${name}: start-up load of every tenant into the directory`,
      value: `${Math.round(result.loadMs).toLocaleString('en')} ms`,
      raw: { loadMs: result.loadMs },
    });
  }
}
