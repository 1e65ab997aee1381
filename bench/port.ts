// The SQL port's own cost on SQLite: a two-statement write transaction (an override upsert and
// an audit insert, as every store write does) through SqlitePort.write against the same
// statements in a raw better-sqlite3 transaction, on one WAL file each, in the same run.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqlitePort } from '../src/store/sqlite/sqlite-port.js';
import { compare, ratio, type Row } from './support/measure.js';

const SCHEMA = `CREATE TABLE overrides (tenant_id TEXT NOT NULL, feature TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, feature)) STRICT;
  CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, details TEXT) STRICT;`;
const UPSERT = `INSERT INTO overrides (tenant_id, feature, value, version, updated_at) VALUES ($1, 'feature_0', $2, 1, $3)
  ON CONFLICT (tenant_id, feature) DO UPDATE SET value = excluded.value, version = version + 1, updated_at = excluded.updated_at`;
const AUDIT = 'INSERT INTO audit_log (at, actor, details) VALUES ($1, $2, $3)';

function open(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(SCHEMA);
  return db;
}

export async function benchPort(rows: Row[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-bench-port-'));
  const raw = open(join(dir, 'raw.db'));
  const upsert = raw.prepare(UPSERT.replace(/\$\d/g, '?'));
  const audit = raw.prepare(AUDIT.replace(/\$\d/g, '?'));
  const rawWrite = raw.transaction((tenant: string, at: string) => {
    upsert.run(tenant, 'true', at);
    audit.run(at, 'bench', '{"after":true}');
  });
  const port = new SqlitePort(open(join(dir, 'port.db')));
  const timings = await compare(
    500,
    {
      raw: (i) => rawWrite(`t${i % 1000}`, new Date().toISOString()),
      port: (i) =>
        port.write(async (tx) => {
          const at = new Date().toISOString();
          await tx.run(UPSERT, [`t${i % 1000}`, 'true', at]);
          await tx.run(AUDIT, [at, 'bench', '{"after":true}']);
        }),
    },
    { rounds: 9 },
  );
  const rate = (nsPerOp: number) => 1e9 / nsPerOp;
  const section = 'SQL port on SQLite (upsert + audit insert, one transaction, WAL)';
  const cpu = (timing: { cpuNsPerOp: number }) => `${(timing.cpuNsPerOp / 1000).toFixed(0)} µs CPU/tx`;
  rows.push({
    section,
    name: 'raw better-sqlite3 transaction',
    value: `${Math.round(rate(timings.raw.nsPerOp)).toLocaleString('en')} tx/s, ${cpu(timings.raw)}`,
    raw: { txPerSecond: rate(timings.raw.nsPerOp), cpuNsPerTx: timings.raw.cpuNsPerOp },
  });
  rows.push({
    section,
    name: 'SqlitePort.write (async mutex, $n translation, statement cache)',
    value: `${Math.round(rate(timings.port.nsPerOp)).toLocaleString('en')} tx/s, ${cpu(timings.port)}`,
    ratio: ratio(rate(timings.port.nsPerOp), rate(timings.raw.nsPerOp)),
    peer: 'raw',
    target: '≥ 0.90×',
    met: timings.raw.nsPerOp / timings.port.nsPerOp >= 0.9,
    raw: { txPerSecond: rate(timings.port.nsPerOp), cpuNsPerTx: timings.port.cpuNsPerOp },
  });
  await port.close();
  raw.close();
  rmSync(dir, { recursive: true, force: true });
}
