// Override writes and how soon decisions see them. Peers, in the same run: a plain
// better-sqlite3 upsert of the same row (same pragmas, one transaction each: the floor for a
// durable write), and for another process's write, a bare connection polling
// `PRAGMA data_version` at the store's own interval (the floor for any polling design).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EntitleProvider } from '../src/entitlements/entitle-provider.js';
import { TenantDirectory } from '../src/entitlements/tenant-directory.js';
import { SqliteStore, WATCH_INTERVAL_MS } from '../src/store/sqlite/sqlite-store.js';
import { TenantOperations } from '../src/tenants/tenant-operations.js';
import { TestPolicySource } from '../test/support/policy.js';
import { median, ratio, type Row } from './support/measure.js';
import { compile, generatePolicyText } from './support/workload.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TENANTS = 1_000;
const ROUNDS = 5;
const WRITES_PER_ROUND = 400;

/** The same row, written the plainest way: one upsert per transaction, nothing else. */
function plainOverrides(path: string): (i: number, value: boolean) => void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE overrides (tenant_id TEXT NOT NULL, feature TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL,
    expires_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (tenant_id, feature)) STRICT`);
  const upsert = db.prepare(`INSERT INTO overrides VALUES (?, 'feature_0', ?, 'bench', 'bench', NULL, ?, ?, 1)
    ON CONFLICT (tenant_id, feature) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, version = version + 1`);
  const write = db.transaction((tenantId: string, value: string, at: string) => upsert.run(tenantId, value, at, at));
  return (i, value) => {
    const at = new Date().toISOString();
    write(`t${i % TENANTS}`, JSON.stringify(value), at);
  };
}

export async function benchWrites(rows: Row[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-bench-'));
  const path = join(dir, 'bench.db');
  const policy = compile(generatePolicyText(50, 4));
  const store = SqliteStore.open({ path });
  const directory = await TenantDirectory.open(store, { logger: quiet });
  const provider = new EntitleProvider({ policy: new TestPolicySource(policy), tenants: directory });
  const operations = new TenantOperations({ store, policy: () => policy });
  const ctx = { actor: 'bench' };
  for (let i = 0; i < TENANTS; i++) await operations.createTenant({ id: `t${i}`, plan: 'plan_0' }, ctx);
  const plain = plainOverrides(join(dir, 'plain.db'));

  // Throughput, rounds alternating with the peer; and every returned write checked at once.
  let stale = 0;
  let written = 0;
  const ours: number[] = [];
  const peer: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let start = performance.now();
    for (let i = 0; i < WRITES_PER_ROUND; i++, written++) {
      const value = written % 2 === 0;
      await operations.setOverride(
        { tenantId: `t${written % TENANTS}`, feature: 'feature_0', value, reason: 'bench' },
        ctx,
      );
      // A write that has returned is visible to the very next decision.
      if (provider.decide(`t${written % TENANTS}`, 'feature_0')?.value !== value) stale++;
    }
    ours.push((WRITES_PER_ROUND * 1000) / (performance.now() - start));
    start = performance.now();
    for (let i = 0; i < WRITES_PER_ROUND; i++) plain(round * WRITES_PER_ROUND + i, i % 2 === 0);
    peer.push((WRITES_PER_ROUND * 1000) / (performance.now() - start));
  }
  const oursRate = median(ours);
  const peerRate = median(peer);
  const section = `writes and visibility (SQLite, WAL, ${TENANTS.toLocaleString('en')} tenants)`;
  rows.push({
    section,
    name: 'plain better-sqlite3 upsert of the same row (one transaction each)',
    value: `${Math.round(peerRate).toLocaleString('en')} writes/s`,
    raw: { writesPerSecond: peerRate },
  });
  rows.push({
    section,
    name: 'override write (transaction + audit row + change row + directory sync)',
    value: `${Math.round(oursRate).toLocaleString('en')} writes/s`,
    ratio: ratio(oursRate, peerRate),
    peer: 'plain upsert',
    raw: { writesPerSecond: oursRate },
  });
  rows.push({
    section,
    name: 'decisions older than a returned write (same process)',
    value: `${stale} of ${written}`,
    target: '0',
    met: stale === 0,
    raw: { staleReads: stale, writes: written },
  });

  // Another connection writes (as the CLI would, from another process); how soon does each reader see it?
  const other = SqliteStore.open({ path });
  const otherOps = new TenantOperations({ store: other, policy: () => policy });
  const watcher = new Database(path, { readonly: true });
  const dataVersion = watcher.prepare('PRAGMA data_version').pluck();
  const readValue = watcher
    .prepare("SELECT value FROM overrides WHERE tenant_id = 't999' AND feature = 'feature_1'")
    .pluck();
  const oursDelays: number[] = [];
  const peerDelays: number[] = [];
  // The peer polls all along, as the store's feed does: a write lands at a random point of its interval.
  let peerValue: unknown;
  let peerSeen = 0;
  let seenVersion = dataVersion.get();
  const poll = setInterval(() => {
    const version = dataVersion.get();
    if (version === seenVersion) return;
    seenVersion = version;
    peerValue = readValue.get();
    peerSeen = performance.now();
  }, WATCH_INTERVAL_MS);
  for (let i = 0; i < 20; i++) {
    const value = i % 2 === 1;
    const start = performance.now();
    await otherOps.setOverride({ tenantId: 't999', feature: 'feature_1', value, reason: 'bench' }, ctx);
    let oursSeen: number | undefined;
    for (let spin = 0; spin < 2_000 && (oursSeen === undefined || peerValue !== JSON.stringify(value)); spin++) {
      if (oursSeen === undefined && provider.decide('t999', 'feature_1')?.value === value) oursSeen = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    oursDelays.push((oursSeen ?? Number.POSITIVE_INFINITY) - start);
    peerDelays.push(peerValue === JSON.stringify(value) ? peerSeen - start : Number.POSITIVE_INFINITY);
    // A random pause, so that writes do not fall in step with either poller.
    await new Promise((resolve) => setTimeout(resolve, 1 + Math.floor(Math.random() * WATCH_INTERVAL_MS)));
  }
  clearInterval(poll);
  const [oursP50, peerP50] = [median(oursDelays), median(peerDelays)];
  const oursMax = Math.max(...oursDelays);
  rows.push({
    section,
    name: `bare data_version poll every ${WATCH_INTERVAL_MS} ms, write by another connection → seen`,
    value: `p50 ${peerP50.toFixed(0)} ms, max ${Math.max(...peerDelays).toFixed(0)} ms`,
    raw: { p50Ms: peerP50, maxMs: Math.max(...peerDelays) },
  });
  rows.push({
    section,
    name: 'write by another connection → visible to decisions',
    value: `p50 ${oursP50.toFixed(0)} ms, max ${oursMax.toFixed(0)} ms`,
    ratio: ratio(oursP50, peerP50),
    peer: 'bare poll (p50)',
    target: '≤ 100 ms',
    met: oursMax <= 100,
    raw: { p50Ms: oursP50, maxMs: oursMax },
  });
  watcher.close();
  await other.close();
  directory.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
