// Export and import of whole tables on SQLite (see store/transfer).

import { InvalidInputError } from '../../errors.js';
import type { AuditEvent } from '../store.js';
import { DUMP_TABLE_NAMES, DUMP_TABLES, notEmptyMessage, type DumpTable, type Row, type StoreDump, type TableTransfer } from '../transfer.js';
import type { SqliteContext } from './sqlite-database.js';

/** Primary key order, so two exports of the same data are the same text. */
const ORDER: Record<DumpTable, string> = {
  tenants: 'id',
  overrides: 'tenant_id, feature',
  api_tokens: 'id',
  connections: 'id',
  connection_calendars: 'connection_id, calendar_id',
  busy_blocks: 'connection_id, calendar_id, event_id',
  audit_log: 'seq',
};

export class SqliteTransfer implements TableTransfer {
  constructor(private readonly ctx: SqliteContext) {}

  async rows(table: DumpTable): Promise<Row[]> {
    return this.ctx.db.prepare(`SELECT ${DUMP_TABLES[table].join(', ')} FROM ${table} ORDER BY ${ORDER[table]}`).all() as Row[];
  }

  load(tables: StoreDump['tables'], event: AuditEvent): Promise<void> {
    const { db } = this.ctx;
    return this.ctx.write(() => {
      const counts = Object.fromEntries(DUMP_TABLE_NAMES.map((table) => [table, db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number]));
      if (Object.values(counts).some((count) => count > 0)) throw new InvalidInputError(notEmptyMessage(counts));
      for (const table of DUMP_TABLE_NAMES) {
        const columns = DUMP_TABLES[table];
        const insert = db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((column) => `@${column}`).join(', ')})`);
        tables[table].forEach((row, index) => {
          try {
            insert.run(Object.fromEntries(columns.map((column) => [column, row[column] ?? null])));
          } catch (error) {
            // An operator's tool: the database's own words say which constraint the row breaks.
            throw new InvalidInputError(`${table}[${index}]: ${error instanceof Error ? error.message : String(error)}; nothing was imported`);
          }
        });
      }
      this.ctx.appendAudit(event);
    });
  }
}
