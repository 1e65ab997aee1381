// The audit log on PostgreSQL: appends outside of other writes, filtered listing, a full scan.

import type { AuditEvent, AuditFilter, AuditRecord, AuditRepository, Page } from '../store.js';
import { auditRecordFromRow, type AuditRow } from '../sqlite/sqlite-database.js';
import type { PostgresContext } from './postgres-database.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const SCAN_BATCH = 1000;

export class PostgresAudit implements AuditRepository {
  constructor(private readonly ctx: PostgresContext) {}

  /** No after-write hooks: an audit row changes nothing a cache holds (a denial must not empty the token cache). */
  append(event: AuditEvent): Promise<AuditRecord> {
    return this.ctx.write((db) => this.ctx.appendAudit(db, event), { hooks: false });
  }

  list(filter: AuditFilter = {}): Promise<Page<AuditRecord>> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.tenantId !== undefined) where.push(`tenant_id = $${params.push(filter.tenantId)}`);
    if (filter.action !== undefined) {
      if (filter.action.endsWith('*')) where.push(`action LIKE $${params.push(`${filter.action.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`)}`);
      else where.push(`action = $${params.push(filter.action)}`);
    }
    if (filter.since !== undefined) where.push(`at >= $${params.push(filter.since)}`);
    if (filter.until !== undefined) where.push(`at < $${params.push(filter.until)}`);
    if (filter.after !== undefined) where.push(`seq < $${params.push(Number(filter.after))}`);
    const limit = Math.min(Math.max(filter.limit ?? DEFAULT_PAGE, 1), MAX_PAGE);
    const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.push(limit + 1)}`;
    return this.ctx.read(async (db) => {
      const rows = (await db.query<AuditRow>(sql, params)).rows;
      const items = rows.slice(0, limit).map(auditRecordFromRow);
      const last = items.at(-1);
      return rows.length > limit && last ? { items, nextCursor: String(last.seq) } : { items };
    });
  }

  /** Every row in chain order, read in batches (rows are append-only, so batches stay consistent). */
  scan(visit: (record: AuditRecord) => void): Promise<void> {
    return this.ctx.read(async (db) => {
      let after = 0;
      for (;;) {
        const rows = (await db.query<AuditRow>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [after, SCAN_BATCH])).rows;
        for (const row of rows) visit(auditRecordFromRow(row));
        const last = rows.at(-1);
        if (!last || rows.length < SCAN_BATCH) return;
        after = last.seq;
      }
    });
  }
}
