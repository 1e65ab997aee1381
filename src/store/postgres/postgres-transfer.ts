// Export and import of whole tables on PostgreSQL (see store/transfer).

import { InvalidInputError } from '../../errors.js';
import type { AuditEvent } from '../store.js';
import { DUMP_TABLE_NAMES, DUMP_TABLES, notEmptyMessage, type DumpTable, type Row, type StoreDump, type TableTransfer } from '../transfer.js';
import type { PostgresContext } from './postgres-database.js';

/** Primary key order (byte order, as SQLite sorts), so two exports of the same data are the same text. */
const ORDER: Record<DumpTable, string> = {
  tenants: 'id COLLATE "C"',
  overrides: 'tenant_id COLLATE "C", feature COLLATE "C"',
  api_tokens: 'id COLLATE "C"',
  connections: 'id COLLATE "C"',
  connection_calendars: 'connection_id COLLATE "C", calendar_id COLLATE "C"',
  busy_blocks: 'connection_id COLLATE "C", calendar_id COLLATE "C", event_id COLLATE "C"',
  audit_log: 'seq',
};

/** Rows per INSERT statement: well under PostgreSQL's 65535 parameters. */
const BATCH = 500;

export class PostgresTransfer implements TableTransfer {
  constructor(private readonly ctx: PostgresContext) {}

  rows(table: DumpTable): Promise<Row[]> {
    return this.ctx.read(async (db) => (await db.query<Row>(`SELECT ${DUMP_TABLES[table].join(', ')} FROM ${table} ORDER BY ${ORDER[table]}`)).rows);
  }

  load(tables: StoreDump['tables'], event: AuditEvent): Promise<void> {
    return this.ctx.write(async (db) => {
      const counts: Record<string, number> = {};
      for (const table of DUMP_TABLE_NAMES) counts[table] = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n ?? 0);
      if (Object.values(counts).some((count) => count > 0)) throw new InvalidInputError(notEmptyMessage(counts));
      for (const table of DUMP_TABLE_NAMES) {
        const columns = DUMP_TABLES[table];
        const rows = tables[table];
        for (let start = 0; start < rows.length; start += BATCH) {
          const batch = rows.slice(start, start + BATCH);
          const values: (string | number | null)[] = [];
          const tuples = batch.map((row) => `(${columns.map((column) => `$${values.push(row[column] ?? null)}`).join(', ')})`);
          await db.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, values).catch((error: unknown) => {
            // An operator's tool: the database's own words say which constraint a row breaks.
            const constraint = (error as { code?: unknown }).code;
            if (typeof constraint !== 'string' || !constraint.startsWith('23')) throw error;
            throw new InvalidInputError(`${table}[${start}…${start + batch.length - 1}]: ${(error as Error).message}; nothing was imported`);
          });
        }
      }
      await this.ctx.appendAudit(db, event);
    });
  }
}
