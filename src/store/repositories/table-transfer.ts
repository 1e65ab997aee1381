// Export and import of whole tables (see store/transfer), the same rows on both dialects.

import { InvalidInputError } from '../../errors.js';
import type { SqlValue } from '../sql-port.js';
import type { AuditEvent } from '../store.js';
import {
  DUMP_TABLE_NAMES,
  DUMP_TABLES,
  LATER_COLUMNS,
  notEmptyMessage,
  type DumpTable,
  type Row,
  type StoreDump,
  type TableTransfer,
} from '../transfer.js';
import { countOf } from './rows.js';
import type { StoreContext } from './store-context.js';

/** Primary key columns: exports in their (byte) order, so two exports of the same data are the same text. */
const KEYS: Record<DumpTable, readonly string[]> = {
  tenants: ['id'],
  tenant_addons: ['tenant_id', 'addon'],
  overrides: ['tenant_id', 'feature'],
  api_tokens: ['id'],
  connections: ['id'],
  connection_calendars: ['connection_id', 'calendar_id'],
  busy_blocks: ['connection_id', 'calendar_id', 'event_id'],
  billing_links: ['tenant_id'],
  billing_subscriptions: ['provider', 'id'],
  billing_addons: ['provider', 'subscription_id', 'addon'],
  billing_events: ['provider', 'id'],
  usage_counters: ['tenant_id', 'feature', 'period_start'],
  usage_grants: ['id'],
  usage_reservations: ['id'],
  usage_outcomes: ['tenant_id', 'key'],
  audit_anchors: ['seq'],
  audit_log: ['seq'],
  webhook_endpoints: ['id'],
  webhook_events: ['id'],
  webhook_sequences: ['tenant_id'],
  webhook_deliveries: ['id'],
};

/** BIGINT columns: PostgreSQL's driver reads them as text; a dump holds numbers, the same from either store. */
const BIGINT: Partial<Record<DumpTable, readonly string[]>> = {
  usage_counters: ['used', 'from_grants', 'reserved'],
  usage_grants: ['amount', 'remaining'],
  usage_reservations: ['amount'],
  usage_outcomes: ['refunded'],
  webhook_events: ['sequence'],
  webhook_sequences: ['sequence'],
};

function asNumbers(rows: readonly Row[], columns: readonly string[] | undefined): readonly Row[] {
  if (!columns) return rows;
  return rows.map((row) => {
    const copy: Record<string, string | number | null> = { ...row };
    for (const column of columns) if (typeof copy[column] === 'string') copy[column] = Number(copy[column]);
    return copy;
  });
}

/** Rows per INSERT statement: well under either database's limit of bound parameters. */
const BATCH = 500;

export class TableTransferStore implements TableTransfer {
  constructor(private readonly ctx: StoreContext) {}

  read(): Promise<StoreDump['tables']> {
    const { byteOrder } = this.ctx.port.sql;
    return this.ctx.port.snapshot(async (tx) => {
      const tables = {} as Record<DumpTable, readonly Row[]>;
      for (const table of DUMP_TABLE_NAMES) {
        const order = KEYS[table].map((column) => (column === 'seq' ? column : `${column}${byteOrder}`)).join(', ');
        tables[table] = asNumbers(
          await tx.all<Row>(`SELECT ${DUMP_TABLES[table].join(', ')} FROM ${table} ORDER BY ${order}`),
          BIGINT[table],
        );
      }
      return tables;
    });
  }

  load(tables: StoreDump['tables'], event: AuditEvent): Promise<void> {
    const { port } = this.ctx;
    return this.ctx.write(async (tx) => {
      const counts: Record<string, number> = {};
      for (const table of DUMP_TABLE_NAMES) counts[table] = countOf(await tx.get(`SELECT count(*) AS n FROM ${table}`));
      if (Object.values(counts).some((count) => count > 0)) throw new InvalidInputError(notEmptyMessage(counts));
      for (const table of DUMP_TABLE_NAMES) {
        const columns = DUMP_TABLES[table];
        const rows = tables[table];
        const later = LATER_COLUMNS[table] ?? {};
        for (let start = 0; start < rows.length; start += BATCH) {
          const batch = rows.slice(start, start + BATCH);
          const values: SqlValue[] = [];
          const tuples = batch.map(
            (row) => `(${columns.map((column) => `$${values.push(row[column] ?? later[column] ?? null)}`).join(', ')})`,
          );
          try {
            await tx.run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, values);
          } catch (error) {
            // An operator's tool: the database's own words say which constraint a row breaks.
            if (!port.isConstraintError(error)) throw error;
            throw new InvalidInputError(
              `${table}[${start}…${start + batch.length - 1}]: ${(error as Error).message}; nothing was imported`,
            );
          }
        }
      }
      await this.ctx.appendAudit(tx, [event]);
    });
  }
}
