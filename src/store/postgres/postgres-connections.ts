// Calendar connections, their sync state and busy blocks on PostgreSQL. Every query names the
// tenant: a connection of another tenant is never found.

import { auditEvents } from '../audit-events.js';
import type { EventChange } from '../../calendar/calendar-client.js';
import { ConnectionNotFoundError, LimitReachedError, TenantNotFoundError, withDetails } from '../../errors.js';
import type { Connection, ConnectionRepository, ConnectionTokens, NewConnection, StoredBusyBlock, SyncCounts, WriteContext } from '../store.js';
import { connectionFromRow, type ConnectionRow } from '../sqlite/sqlite-connections.js';
import type { PostgresContext, Queryable } from './postgres-database.js';

async function find(db: Queryable, tenantId: string, id: string): Promise<ConnectionRow | undefined> {
  return (await db.query<ConnectionRow>('SELECT * FROM connections WHERE tenant_id = $1 AND id = $2', [tenantId, id])).rows[0];
}

async function requireRow(db: Queryable, tenantId: string, id: string): Promise<ConnectionRow> {
  const row = await find(db, tenantId, id);
  if (!row) throw new ConnectionNotFoundError();
  return row;
}

export class PostgresConnections implements ConnectionRepository {
  constructor(private readonly ctx: PostgresContext) {}

  connect(input: NewConnection, context: WriteContext, limit?: { feature: string; max: number }): Promise<{ connection: Connection; replaced: boolean }> {
    return this.ctx.write(async (db) => {
      if ((await db.query('SELECT 1 FROM tenants WHERE id = $1', [input.tenantId])).rowCount === 0) throw new TenantNotFoundError(input.tenantId);
      const now = this.ctx.nowIso();
      const existing = (
        await db.query<ConnectionRow>(
          `SELECT * FROM connections WHERE tenant_id = $1 AND user_id = $2 AND provider = $3 AND purpose = $4
             AND account_email IS NOT DISTINCT FROM $5 AND status = 'valid'`,
          [input.tenantId, input.userId, input.provider, input.purpose, input.accountEmail],
        )
      ).rows[0];
      const id = existing?.id ?? input.id;
      const tokens = input.sealTokens(id);
      if (existing) {
        await db.query('UPDATE connections SET access_token = $1, refresh_token = coalesce($2, refresh_token), token_expires_at = $3, scopes = $4, updated_at = $5 WHERE id = $6', [
          tokens.accessToken,
          tokens.refreshToken,
          tokens.expiresAt,
          JSON.stringify(input.scopes),
          now,
          id,
        ]);
      } else {
        if (limit) {
          const count = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM connections WHERE tenant_id = $1 AND purpose = $2 AND status = 'valid'", [input.tenantId, input.purpose])).rows[0]?.n ?? 0);
          if (count >= limit.max) throw withDetails(new LimitReachedError(), { feature: limit.feature, limit: limit.max, current: count });
        }
        await db.query(
          `INSERT INTO connections (id, tenant_id, user_id, provider, purpose, account_email, status, scopes, access_token, refresh_token, token_expires_at, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'valid', $7, $8, $9, $10, $11, $12)`,
          [id, input.tenantId, input.userId, input.provider, input.purpose, input.accountEmail, JSON.stringify(input.scopes), tokens.accessToken, tokens.refreshToken, tokens.expiresAt, now, now],
        );
      }
      await this.ctx.appendAudit(db, auditEvents.connectionStored(context, input, id, existing !== undefined));
      return { connection: connectionFromRow(await requireRow(db, input.tenantId, id)), replaced: existing !== undefined };
    });
  }

  get(tenantId: string, id: string): Promise<Connection | undefined> {
    return this.ctx.read(async (db) => {
      const row = await find(db, tenantId, id);
      return row ? connectionFromRow(row) : undefined;
    });
  }

  list(tenantId: string, filter: { userId?: string; purpose?: string; status?: 'valid' | 'invalid' } = {}): Promise<readonly Connection[]> {
    const where = ['tenant_id = $1'];
    const params: string[] = [tenantId];
    for (const [column, value] of [
      ['user_id', filter.userId],
      ['purpose', filter.purpose],
      ['status', filter.status],
    ] as const) {
      if (value !== undefined) where.push(`${column} = $${params.push(value)}`);
    }
    return this.ctx.read(async (db) => (await db.query<ConnectionRow>(`SELECT * FROM connections WHERE ${where.join(' AND ')} ORDER BY created_at, id`, params)).rows.map(connectionFromRow));
  }

  tokens(tenantId: string, id: string): Promise<ConnectionTokens | undefined> {
    return this.ctx.read(async (db) => {
      const row = await find(db, tenantId, id);
      if (!row || row.access_token === null) return undefined;
      return { accessToken: row.access_token, refreshToken: row.refresh_token, expiresAt: row.token_expires_at };
    });
  }

  updateTokens(tenantId: string, id: string, tokens: ConnectionTokens, context: WriteContext): Promise<void> {
    return this.ctx.write(async (db) => {
      const row = await requireRow(db, tenantId, id);
      await db.query('UPDATE connections SET access_token = $1, refresh_token = coalesce($2, refresh_token), token_expires_at = $3, updated_at = $4 WHERE id = $5', [
        tokens.accessToken,
        tokens.refreshToken,
        tokens.expiresAt,
        this.ctx.nowIso(),
        row.id,
      ]);
      await this.ctx.appendAudit(db, auditEvents.connectionTokensRefreshed(context, tenantId, id, tokens.expiresAt));
    });
  }

  disconnect(tenantId: string, id: string, context: WriteContext & { reason: string }): Promise<Connection> {
    return this.ctx.write(async (db) => {
      const row = await requireRow(db, tenantId, id);
      const now = this.ctx.nowIso();
      const blocks = (await db.query('DELETE FROM busy_blocks WHERE connection_id = $1', [id])).rowCount ?? 0;
      await db.query('DELETE FROM connection_calendars WHERE connection_id = $1', [id]);
      await db.query(
        "UPDATE connections SET status = 'invalid', invalid_reason = $1, access_token = NULL, refresh_token = NULL, token_expires_at = NULL, updated_at = $2 WHERE id = $3",
        [context.reason, now, id],
      );
      await this.ctx.appendAudit(db, auditEvents.connectionDisconnected(context, tenantId, id, row.provider, blocks));
      return connectionFromRow(await requireRow(db, tenantId, id));
    });
  }

  syncState(tenantId: string, id: string, calendarId: string): Promise<string | null> {
    return this.ctx.read(async (db) => {
      await requireRow(db, tenantId, id);
      const row = (await db.query<{ sync_state: string | null }>('SELECT sync_state FROM connection_calendars WHERE connection_id = $1 AND calendar_id = $2', [id, calendarId])).rows[0];
      return row?.sync_state ?? null;
    });
  }

  applySync(
    tenantId: string,
    id: string,
    calendarId: string,
    result: { changes: readonly EventChange[]; syncState: string; fullSync: boolean },
  ): Promise<Omit<SyncCounts, 'calendars' | 'fullResync'>> {
    return this.ctx.write(async (db) => {
      const row = await requireRow(db, tenantId, id);
      if (row.status !== 'valid') throw new ConnectionNotFoundError();
      const now = this.ctx.nowIso();
      const known = new Set((await db.query<{ event_id: string }>('SELECT event_id FROM busy_blocks WHERE connection_id = $1 AND calendar_id = $2', [id, calendarId])).rows.map((r) => r.event_id));
      let added = 0;
      let updated = 0;
      let deleted = 0;
      const seen = new Set<string>();
      const remove = async (eventId: string) => (await db.query('DELETE FROM busy_blocks WHERE connection_id = $1 AND calendar_id = $2 AND event_id = $3', [id, calendarId, eventId])).rowCount ?? 0;
      for (const change of result.changes) {
        if (change.type === 'delete') {
          if ((await remove(change.eventId)) > 0) deleted++;
          known.delete(change.eventId);
          continue;
        }
        const { block } = change;
        await db.query(
          `INSERT INTO busy_blocks (tenant_id, connection_id, calendar_id, event_id, start_at, end_at, all_day, show_as, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (connection_id, calendar_id, event_id) DO UPDATE SET
           start_at = excluded.start_at, end_at = excluded.end_at, all_day = excluded.all_day, show_as = excluded.show_as, updated_at = excluded.updated_at`,
          [tenantId, id, calendarId, block.eventId, block.start, block.end, block.allDay ? 1 : 0, block.showAs, now],
        );
        if (known.has(block.eventId) || seen.has(block.eventId)) updated++;
        else added++;
        seen.add(block.eventId);
      }
      if (result.fullSync) {
        // A full sync is the whole truth: what it did not mention is gone.
        for (const eventId of known) {
          if (seen.has(eventId)) continue;
          await remove(eventId);
          deleted++;
        }
      }
      await db.query(
        `INSERT INTO connection_calendars (connection_id, calendar_id, sync_state, last_sync_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (connection_id, calendar_id) DO UPDATE SET sync_state = excluded.sync_state, last_sync_at = excluded.last_sync_at`,
        [id, calendarId, result.syncState, now],
      );
      return { added, updated, deleted };
    });
  }

  recordSync(tenantId: string, id: string, counts: SyncCounts, context: WriteContext): Promise<Connection> {
    return this.ctx.write(async (db) => {
      await requireRow(db, tenantId, id);
      const now = this.ctx.nowIso();
      await db.query('UPDATE connections SET last_sync_at = $1, last_sync = $2, updated_at = $3 WHERE id = $4', [now, JSON.stringify(counts), now, id]);
      await this.ctx.appendAudit(db, auditEvents.calendarSynced(context, tenantId, id, counts));
      return connectionFromRow(await requireRow(db, tenantId, id));
    });
  }

  busyBlocks(tenantId: string, id: string): Promise<readonly StoredBusyBlock[]> {
    return this.ctx.read(async (db) => {
      await requireRow(db, tenantId, id);
      const rows = (
        await db.query<{ connection_id: string; calendar_id: string; event_id: string; start_at: string; end_at: string; all_day: number; show_as: string }>(
          'SELECT * FROM busy_blocks WHERE tenant_id = $1 AND connection_id = $2 ORDER BY start_at, event_id COLLATE "C"',
          [tenantId, id],
        )
      ).rows;
      return rows.map((row) => ({
        connectionId: row.connection_id,
        calendarId: row.calendar_id,
        eventId: row.event_id,
        start: row.start_at,
        end: row.end_at,
        allDay: row.all_day === 1,
        showAs: row.show_as as StoredBusyBlock['showAs'],
      }));
    });
  }
}
