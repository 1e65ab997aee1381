// The audit log: appends outside of other writes (one or a batch), filtered listing, a full scan.

import type { SqlValue } from '../sql-port.js';
import type {
  AuditAnchor,
  AuditArchived,
  AuditEvent,
  AuditFilter,
  AuditRecord,
  AuditRepository,
  Page,
} from '../store.js';
import { auditRecordFromRow, type AuditRow } from './rows.js';
import { pageSize, type StoreContext } from './store-context.js';

const SCAN_BATCH = 1000;
const ARCHIVE_LIMIT = 100_000;

export class AuditStore implements AuditRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** No after-write hooks: an audit row changes nothing a cache holds (a denial must not empty the token cache). */
  async append(event: AuditEvent): Promise<AuditRecord> {
    const [record] = await this.appendBatch([event]);
    return record as AuditRecord;
  }

  /** Appends events in one transaction, in order, on the same hash chain; no after-write hooks either. */
  appendBatch(events: readonly AuditEvent[]): Promise<readonly AuditRecord[]> {
    if (events.length === 0) return Promise.resolve([]);
    return this.ctx.write((tx) => this.ctx.appendAudit(tx, events), { hooks: false });
  }

  async list(filter: AuditFilter = {}): Promise<Page<AuditRecord>> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.tenantId !== undefined) where.push(`tenant_id = $${params.push(filter.tenantId)}`);
    if (filter.action !== undefined) {
      if (filter.action.endsWith('*'))
        where.push(
          `action LIKE $${params.push(`${filter.action.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`)} ESCAPE '\\'`,
        );
      else where.push(`action = $${params.push(filter.action)}`);
    }
    if (filter.since !== undefined) where.push(`at >= $${params.push(filter.since)}`);
    if (filter.until !== undefined) where.push(`at < $${params.push(filter.until)}`);
    if (filter.after !== undefined) where.push(`seq < $${params.push(Number(filter.after))}`);
    const limit = pageSize(filter.limit);
    const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.push(limit + 1)}`;
    const rows = await this.ctx.port.all<AuditRow>(sql, params);
    const items = rows.slice(0, limit).map(auditRecordFromRow);
    const last = items.at(-1);
    return rows.length > limit && last ? { items, nextCursor: String(last.seq) } : { items };
  }

  /** Every row in chain order, read in batches (rows are append-only, so batches stay consistent). */
  async scan(visit: (record: AuditRecord) => void): Promise<void> {
    for (let after = 0; ;) {
      const rows = await this.ctx.port.all<AuditRow>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [
        after,
        SCAN_BATCH,
      ]);
      for (const row of rows) visit(auditRecordFromRow(row));
      const last = rows.at(-1);
      if (!last || rows.length < SCAN_BATCH) return;
      after = last.seq;
    }
  }

  async anchor(): Promise<AuditAnchor | undefined> {
    const row = await this.ctx.port.get<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_anchors ORDER BY seq DESC LIMIT 1',
    );
    return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
  }

  /**
   * One write transaction (serialized with every writer, on PostgreSQL across instances: two
   * archivers never take the same rows). Only a prefix of the chain is archived — rows before the
   * first one written at or after `before` — so what stays is still one unbroken chain.
   */
  archive(
    before: string,
    sink: (rows: readonly AuditRecord[], from: AuditAnchor | undefined) => Promise<void>,
    { limit = ARCHIVE_LIMIT } = {},
  ): Promise<AuditArchived> {
    return this.ctx.write(
      async (tx) => {
        const from = await tx.get<{ seq: number; hash: string }>(
          'SELECT seq, hash FROM audit_anchors ORDER BY seq DESC LIMIT 1',
        );
        const boundary = await tx.get<{ seq: number }>('SELECT min(seq) AS seq FROM audit_log WHERE at >= $1', [
          before,
        ]);
        const rows = (
          boundary?.seq === null || boundary?.seq === undefined
            ? await tx.all<AuditRow>('SELECT * FROM audit_log ORDER BY seq LIMIT $1', [limit])
            : await tx.all<AuditRow>('SELECT * FROM audit_log WHERE seq < $1 ORDER BY seq LIMIT $2', [
                boundary.seq,
                limit,
              ])
        ).map(auditRecordFromRow);
        const last = rows.at(-1);
        if (!last) return { rows: 0 };
        await sink(rows, from ? { seq: Number(from.seq), hash: from.hash } : undefined);
        await tx.run('DELETE FROM audit_log WHERE seq <= $1', [last.seq]);
        await tx.run('INSERT INTO audit_anchors (seq, hash, archived_at, rows) VALUES ($1, $2, $3, $4)', [
          last.seq,
          last.hash,
          this.ctx.nowIso(),
          rows.length,
        ]);
        return { rows: rows.length, anchor: { seq: last.seq, hash: last.hash } };
      },
      { hooks: false },
    );
  }
}
