// The audit log on SQLite: appends outside of other writes, filtered listing, a full scan.

import type { AuditEvent, AuditFilter, AuditRecord, AuditRepository, Page } from '../store.js';
import { auditRecordFromRow, type SqliteContext } from './sqlite-database.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

export class SqliteAudit implements AuditRepository {
  constructor(private readonly ctx: SqliteContext) {}

  /** No after-write hooks: an audit row changes nothing a cache holds (a denial must not empty the token cache). */
  append(event: AuditEvent): Promise<AuditRecord> {
    return this.ctx.write(() => this.ctx.appendAudit(event), { hooks: false });
  }

  async list(filter: AuditFilter = {}): Promise<Page<AuditRecord>> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.tenantId !== undefined) {
      where.push('tenant_id = ?');
      params.push(filter.tenantId);
    }
    if (filter.action !== undefined) {
      if (filter.action.endsWith('*')) {
        where.push("action LIKE ? ESCAPE '\\'");
        params.push(`${filter.action.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
      } else {
        where.push('action = ?');
        params.push(filter.action);
      }
    }
    if (filter.since !== undefined) {
      where.push('at >= ?');
      params.push(filter.since);
    }
    if (filter.until !== undefined) {
      where.push('at < ?');
      params.push(filter.until);
    }
    if (filter.after !== undefined) {
      where.push('seq < ?');
      params.push(Number(filter.after));
    }
    const limit = Math.min(Math.max(filter.limit ?? DEFAULT_PAGE, 1), MAX_PAGE);
    const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    const rows = this.ctx.db.prepare(sql).all(...params, limit + 1) as Parameters<typeof auditRecordFromRow>[0][];
    const items = rows.slice(0, limit).map(auditRecordFromRow);
    const last = items.at(-1);
    return rows.length > limit && last ? { items, nextCursor: String(last.seq) } : { items };
  }

  async scan(visit: (record: AuditRecord) => void): Promise<void> {
    // A read transaction gives the scan one consistent view while writers go on.
    this.ctx.db.transaction(() => {
      for (const row of this.ctx.db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate()) {
        visit(auditRecordFromRow(row as Parameters<typeof auditRecordFromRow>[0]));
      }
    })();
  }
}
