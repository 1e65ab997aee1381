// Calendar connections, their sync state and busy blocks on SQLite. Every query names the
// tenant: a connection of another tenant is never found.

import { auditEvents } from '../audit-events.js';
import type { CalendarProviderName, EventChange } from '../../calendar/calendar-client.js';
import { ConnectionNotFoundError, LimitReachedError, TenantNotFoundError, withDetails } from '../../errors.js';
import type { Connection, ConnectionRepository, ConnectionTokens, NewConnection, StoredBusyBlock, SyncCounts, WriteContext } from '../store.js';
import type { SqliteContext } from './sqlite-database.js';

export interface ConnectionRow {
  id: string;
  tenant_id: string;
  user_id: string;
  provider: string;
  purpose: string;
  account_email: string | null;
  status: string;
  invalid_reason: string | null;
  scopes: string;
  access_token: string | null;
  refresh_token: string | null;
  token_expires_at: string | null;
  created_at: string;
  updated_at: string;
  last_sync_at: string | null;
  last_sync: string | null;
}

export function connectionFromRow(row: ConnectionRow): Connection {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    provider: row.provider as CalendarProviderName,
    purpose: row.purpose,
    accountEmail: row.account_email,
    status: row.status as Connection['status'],
    invalidReason: row.invalid_reason,
    scopes: JSON.parse(row.scopes) as string[],
    tokenExpiresAt: row.token_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastSyncAt: row.last_sync_at,
    lastSync: row.last_sync === null ? null : (JSON.parse(row.last_sync) as SyncCounts),
  };
}

export class SqliteConnections implements ConnectionRepository {
  readonly #one;

  constructor(private readonly ctx: SqliteContext) {
    this.#one = ctx.db.prepare('SELECT * FROM connections WHERE tenant_id = ? AND id = ?');
  }

  #find(tenantId: string, id: string): ConnectionRow | undefined {
    return this.#one.get(tenantId, id) as ConnectionRow | undefined;
  }

  #require(tenantId: string, id: string): ConnectionRow {
    const row = this.#find(tenantId, id);
    if (!row) throw new ConnectionNotFoundError();
    return row;
  }

  connect(input: NewConnection, context: WriteContext, limit?: { feature: string; max: number }): Promise<{ connection: Connection; replaced: boolean }> {
    const { db } = this.ctx;
    return this.ctx.write(() => {
      if (!db.prepare('SELECT 1 FROM tenants WHERE id = ?').get(input.tenantId)) throw new TenantNotFoundError(input.tenantId);
      const now = this.ctx.nowIso();
      const existing = db
        .prepare(`SELECT * FROM connections WHERE tenant_id = ? AND user_id = ? AND provider = ? AND purpose = ?
          AND account_email IS ? AND status = 'valid'`)
        .get(input.tenantId, input.userId, input.provider, input.purpose, input.accountEmail) as ConnectionRow | undefined;
      const id = existing?.id ?? input.id;
      const tokens = input.sealTokens(id);
      if (existing) {
        db.prepare('UPDATE connections SET access_token = ?, refresh_token = coalesce(?, refresh_token), token_expires_at = ?, scopes = ?, updated_at = ? WHERE id = ?').run(
          tokens.accessToken,
          tokens.refreshToken,
          tokens.expiresAt,
          JSON.stringify(input.scopes),
          now,
          id,
        );
      } else {
        if (limit) {
          const count = db.prepare("SELECT count(*) FROM connections WHERE tenant_id = ? AND purpose = ? AND status = 'valid'").pluck().get(input.tenantId, input.purpose) as number;
          if (count >= limit.max) throw withDetails(new LimitReachedError(), { feature: limit.feature, limit: limit.max, current: count });
        }
        db.prepare(`INSERT INTO connections (id, tenant_id, user_id, provider, purpose, account_email, status, scopes, access_token, refresh_token,
            token_expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'valid', ?, ?, ?, ?, ?, ?)`).run(
          id,
          input.tenantId,
          input.userId,
          input.provider,
          input.purpose,
          input.accountEmail,
          JSON.stringify(input.scopes),
          tokens.accessToken,
          tokens.refreshToken,
          tokens.expiresAt,
          now,
          now,
        );
      }
      this.ctx.appendAudit(auditEvents.connectionStored(context, input, id, existing !== undefined));
      return { connection: connectionFromRow(this.#require(input.tenantId, id)), replaced: existing !== undefined };
    });
  }

  async get(tenantId: string, id: string): Promise<Connection | undefined> {
    const row = this.#find(tenantId, id);
    return row ? connectionFromRow(row) : undefined;
  }

  async list(tenantId: string, filter: { userId?: string; purpose?: string; status?: 'valid' | 'invalid' } = {}): Promise<readonly Connection[]> {
    const where = ['tenant_id = ?'];
    const params: string[] = [tenantId];
    for (const [column, value] of [
      ['user_id', filter.userId],
      ['purpose', filter.purpose],
      ['status', filter.status],
    ] as const) {
      if (value === undefined) continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    const rows = this.ctx.db.prepare(`SELECT * FROM connections WHERE ${where.join(' AND ')} ORDER BY created_at, id`).all(...params) as ConnectionRow[];
    return rows.map(connectionFromRow);
  }

  async tokens(tenantId: string, id: string): Promise<ConnectionTokens | undefined> {
    const row = this.#find(tenantId, id);
    if (!row || row.access_token === null) return undefined;
    return { accessToken: row.access_token, refreshToken: row.refresh_token, expiresAt: row.token_expires_at };
  }

  updateTokens(tenantId: string, id: string, tokens: ConnectionTokens, context: WriteContext): Promise<void> {
    return this.ctx.write(() => {
      const row = this.#require(tenantId, id);
      this.ctx.db
        .prepare('UPDATE connections SET access_token = ?, refresh_token = coalesce(?, refresh_token), token_expires_at = ?, updated_at = ? WHERE id = ?')
        .run(tokens.accessToken, tokens.refreshToken, tokens.expiresAt, this.ctx.nowIso(), row.id);
      this.ctx.appendAudit(auditEvents.connectionTokensRefreshed(context, tenantId, id, tokens.expiresAt));
    });
  }

  disconnect(tenantId: string, id: string, context: WriteContext & { reason: string }): Promise<Connection> {
    const { db } = this.ctx;
    return this.ctx.write(() => {
      const row = this.#require(tenantId, id);
      const now = this.ctx.nowIso();
      const blocks = db.prepare('DELETE FROM busy_blocks WHERE connection_id = ?').run(id).changes;
      db.prepare('DELETE FROM connection_calendars WHERE connection_id = ?').run(id);
      db.prepare(
        "UPDATE connections SET status = 'invalid', invalid_reason = ?, access_token = NULL, refresh_token = NULL, token_expires_at = NULL, updated_at = ? WHERE id = ?",
      ).run(context.reason, now, id);
      this.ctx.appendAudit(auditEvents.connectionDisconnected(context, tenantId, id, row.provider, blocks));
      return connectionFromRow(this.#require(tenantId, id));
    });
  }

  async syncState(tenantId: string, id: string, calendarId: string): Promise<string | null> {
    this.#require(tenantId, id);
    const state = this.ctx.db.prepare('SELECT sync_state FROM connection_calendars WHERE connection_id = ? AND calendar_id = ?').pluck().get(id, calendarId);
    return (state as string | null | undefined) ?? null;
  }

  applySync(
    tenantId: string,
    id: string,
    calendarId: string,
    result: { changes: readonly EventChange[]; syncState: string; fullSync: boolean },
  ): Promise<Omit<SyncCounts, 'calendars' | 'fullResync'>> {
    const { db } = this.ctx;
    return this.ctx.write(() => {
      const row = this.#require(tenantId, id);
      if (row.status !== 'valid') throw new ConnectionNotFoundError();
      const now = this.ctx.nowIso();
      const known = new Set(db.prepare('SELECT event_id FROM busy_blocks WHERE connection_id = ? AND calendar_id = ?').pluck().all(id, calendarId) as string[]);
      const upsert = db.prepare(`INSERT INTO busy_blocks (tenant_id, connection_id, calendar_id, event_id, start_at, end_at, all_day, show_as, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (connection_id, calendar_id, event_id) DO UPDATE SET
        start_at = excluded.start_at, end_at = excluded.end_at, all_day = excluded.all_day, show_as = excluded.show_as, updated_at = excluded.updated_at`);
      const remove = db.prepare('DELETE FROM busy_blocks WHERE connection_id = ? AND calendar_id = ? AND event_id = ?');
      let added = 0;
      let updated = 0;
      let deleted = 0;
      const seen = new Set<string>();
      for (const change of result.changes) {
        if (change.type === 'delete') {
          if (remove.run(id, calendarId, change.eventId).changes > 0) deleted++;
          known.delete(change.eventId);
          continue;
        }
        const { block } = change;
        upsert.run(tenantId, id, calendarId, block.eventId, block.start, block.end, block.allDay ? 1 : 0, block.showAs, now);
        if (known.has(block.eventId) || seen.has(block.eventId)) updated++;
        else added++;
        seen.add(block.eventId);
      }
      if (result.fullSync) {
        // A full sync is the whole truth: what it did not mention is gone.
        for (const eventId of known) {
          if (seen.has(eventId)) continue;
          remove.run(id, calendarId, eventId);
          deleted++;
        }
      }
      db.prepare(`INSERT INTO connection_calendars (connection_id, calendar_id, sync_state, last_sync_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (connection_id, calendar_id) DO UPDATE SET sync_state = excluded.sync_state, last_sync_at = excluded.last_sync_at`).run(
        id,
        calendarId,
        result.syncState,
        now,
      );
      return { added, updated, deleted };
    });
  }

  recordSync(tenantId: string, id: string, counts: SyncCounts, context: WriteContext): Promise<Connection> {
    return this.ctx.write(() => {
      this.#require(tenantId, id);
      const now = this.ctx.nowIso();
      this.ctx.db.prepare('UPDATE connections SET last_sync_at = ?, last_sync = ?, updated_at = ? WHERE id = ?').run(now, JSON.stringify(counts), now, id);
      this.ctx.appendAudit(auditEvents.calendarSynced(context, tenantId, id, counts));
      return connectionFromRow(this.#require(tenantId, id));
    });
  }

  async busyBlocks(tenantId: string, id: string): Promise<readonly StoredBusyBlock[]> {
    this.#require(tenantId, id);
    const rows = this.ctx.db
      .prepare('SELECT * FROM busy_blocks WHERE tenant_id = ? AND connection_id = ? ORDER BY start_at, event_id')
      .all(tenantId, id) as { connection_id: string; calendar_id: string; event_id: string; start_at: string; end_at: string; all_day: number; show_as: string }[];
    return rows.map((row) => ({
      connectionId: row.connection_id,
      calendarId: row.calendar_id,
      eventId: row.event_id,
      start: row.start_at,
      end: row.end_at,
      allDay: row.all_day === 1,
      showAs: row.show_as as StoredBusyBlock['showAs'],
    }));
  }
}
