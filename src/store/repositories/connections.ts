// Calendar connections, their sync state and busy blocks. Every query names the tenant: a
// connection of another tenant is never found.

import { auditEvents } from '../audit-events.js';
import type { EventChange } from '../calendar-shapes.js';
import { ConnectionNotFoundError, LimitReachedError, withDetails } from '../../errors.js';
import type { SqlExecutor, SqlValue } from '../sql-port.js';
import type {
  Connection,
  ConnectionRepository,
  ConnectionTokens,
  NewConnection,
  StoredBusyBlock,
  SyncCounts,
  WriteContext,
} from '../store.js';
import { busyBlockFromRow, connectionFromRow, countOf, type BusyBlockRow, type ConnectionRow } from './rows.js';
import type { StoreContext } from './store-context.js';
import { requireTenant } from './tenants.js';

function find(db: SqlExecutor, tenantId: string, id: string): Promise<ConnectionRow | undefined> {
  return db.get<ConnectionRow>('SELECT * FROM connections WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
}

async function requireRow(db: SqlExecutor, tenantId: string, id: string): Promise<ConnectionRow> {
  const row = await find(db, tenantId, id);
  if (!row) throw new ConnectionNotFoundError();
  return row;
}

export class ConnectionStore implements ConnectionRepository {
  constructor(private readonly ctx: StoreContext) {}

  connect(
    input: NewConnection,
    context: WriteContext,
    limit?: { feature: string; max: number },
  ): Promise<{ connection: Connection; replaced: boolean }> {
    return this.ctx.write(async (tx) => {
      await requireTenant(tx, input.tenantId);
      const now = this.ctx.nowIso();
      const existing = await tx.get<ConnectionRow>(
        `SELECT * FROM connections WHERE tenant_id = $1 AND user_id = $2 AND provider = $3 AND purpose = $4
           AND account_email IS NOT DISTINCT FROM $5 AND status = 'valid'`,
        [input.tenantId, input.userId, input.provider, input.purpose, input.accountEmail],
      );
      const id = existing?.id ?? input.id;
      const tokens = input.sealTokens(id);
      if (existing) {
        await tx.run(
          'UPDATE connections SET access_token = $1, refresh_token = coalesce($2, refresh_token), token_expires_at = $3, scopes = $4, updated_at = $5 WHERE id = $6',
          [tokens.accessToken, tokens.refreshToken, tokens.expiresAt, JSON.stringify(input.scopes), now, id],
        );
      } else {
        if (limit) {
          // Inside the write transaction: two connects racing for the last slot cannot both pass.
          const count = countOf(
            await tx.get(
              "SELECT count(*) AS n FROM connections WHERE tenant_id = $1 AND purpose = $2 AND status = 'valid'",
              [input.tenantId, input.purpose],
            ),
          );
          if (count >= limit.max)
            throw withDetails(new LimitReachedError(), { feature: limit.feature, limit: limit.max, current: count });
        }
        await tx.run(
          `INSERT INTO connections (id, tenant_id, user_id, provider, purpose, account_email, status, scopes, access_token, refresh_token, token_expires_at, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'valid', $7, $8, $9, $10, $11, $12)`,
          [
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
          ],
        );
      }
      await this.ctx.appendAudit(tx, [auditEvents.connectionStored(context, input, id, existing !== undefined)]);
      return {
        connection: connectionFromRow(await requireRow(tx, input.tenantId, id)),
        replaced: existing !== undefined,
      };
    });
  }

  async get(tenantId: string, id: string): Promise<Connection | undefined> {
    const row = await find(this.ctx.port, tenantId, id);
    return row ? connectionFromRow(row) : undefined;
  }

  async list(
    tenantId: string,
    filter: { userId?: string; purpose?: string; status?: 'valid' | 'invalid' } = {},
  ): Promise<readonly Connection[]> {
    const where = ['tenant_id = $1'];
    const params: SqlValue[] = [tenantId];
    for (const [column, value] of [
      ['user_id', filter.userId],
      ['purpose', filter.purpose],
      ['status', filter.status],
    ] as const) {
      if (value !== undefined) where.push(`${column} = $${params.push(value)}`);
    }
    return (
      await this.ctx.port.all<ConnectionRow>(
        `SELECT * FROM connections WHERE ${where.join(' AND ')} ORDER BY created_at, id`,
        params,
      )
    ).map(connectionFromRow);
  }

  async tokens(tenantId: string, id: string): Promise<ConnectionTokens | undefined> {
    const row = await find(this.ctx.port, tenantId, id);
    if (!row || row.access_token === null) return undefined;
    return { accessToken: row.access_token, refreshToken: row.refresh_token, expiresAt: row.token_expires_at };
  }

  updateTokens(tenantId: string, id: string, tokens: ConnectionTokens, context: WriteContext): Promise<void> {
    return this.ctx.write(async (tx) => {
      const row = await requireRow(tx, tenantId, id);
      await tx.run(
        'UPDATE connections SET access_token = $1, refresh_token = coalesce($2, refresh_token), token_expires_at = $3, updated_at = $4 WHERE id = $5',
        [tokens.accessToken, tokens.refreshToken, tokens.expiresAt, this.ctx.nowIso(), row.id],
      );
      await this.ctx.appendAudit(tx, [auditEvents.connectionTokensRefreshed(context, tenantId, id, tokens.expiresAt)]);
    });
  }

  disconnect(tenantId: string, id: string, context: WriteContext & { reason: string }): Promise<Connection> {
    return this.ctx.write(async (tx) => {
      const row = await requireRow(tx, tenantId, id);
      const blocks = (await tx.run('DELETE FROM busy_blocks WHERE connection_id = $1', [id])).changes;
      await tx.run('DELETE FROM connection_calendars WHERE connection_id = $1', [id]);
      await tx.run(
        "UPDATE connections SET status = 'invalid', invalid_reason = $1, access_token = NULL, refresh_token = NULL, token_expires_at = NULL, updated_at = $2 WHERE id = $3",
        [context.reason, this.ctx.nowIso(), id],
      );
      await this.ctx.appendAudit(tx, [auditEvents.connectionDisconnected(context, tenantId, id, row.provider, blocks)]);
      return connectionFromRow(await requireRow(tx, tenantId, id));
    });
  }

  async syncState(tenantId: string, id: string, calendarId: string): Promise<string | null> {
    await requireRow(this.ctx.port, tenantId, id);
    const row = await this.ctx.port.get<{ sync_state: string | null }>(
      'SELECT sync_state FROM connection_calendars WHERE connection_id = $1 AND calendar_id = $2',
      [id, calendarId],
    );
    return row?.sync_state ?? null;
  }

  applySync(
    tenantId: string,
    id: string,
    calendarId: string,
    result: { changes: readonly EventChange[]; syncState: string; fullSync: boolean },
  ): Promise<Omit<SyncCounts, 'calendars' | 'fullResync'>> {
    return this.ctx.write(async (tx) => {
      const row = await requireRow(tx, tenantId, id);
      if (row.status !== 'valid') throw new ConnectionNotFoundError();
      const now = this.ctx.nowIso();
      const known = new Set(
        (
          await tx.all<{ event_id: string }>(
            'SELECT event_id FROM busy_blocks WHERE connection_id = $1 AND calendar_id = $2',
            [id, calendarId],
          )
        ).map((r) => r.event_id),
      );
      const remove = async (eventId: string) =>
        (
          await tx.run('DELETE FROM busy_blocks WHERE connection_id = $1 AND calendar_id = $2 AND event_id = $3', [
            id,
            calendarId,
            eventId,
          ])
        ).changes;
      let added = 0;
      let updated = 0;
      let deleted = 0;
      const seen = new Set<string>();
      for (const change of result.changes) {
        if (change.type === 'delete') {
          if ((await remove(change.eventId)) > 0) deleted++;
          known.delete(change.eventId);
          continue;
        }
        const { block } = change;
        await tx.run(
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
      await tx.run(
        `INSERT INTO connection_calendars (connection_id, calendar_id, sync_state, last_sync_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (connection_id, calendar_id) DO UPDATE SET sync_state = excluded.sync_state, last_sync_at = excluded.last_sync_at`,
        [id, calendarId, result.syncState, now],
      );
      return { added, updated, deleted };
    });
  }

  recordSync(tenantId: string, id: string, counts: SyncCounts, context: WriteContext): Promise<Connection> {
    return this.ctx.write(async (tx) => {
      await requireRow(tx, tenantId, id);
      const now = this.ctx.nowIso();
      await tx.run('UPDATE connections SET last_sync_at = $1, last_sync = $2, updated_at = $3 WHERE id = $4', [
        now,
        JSON.stringify(counts),
        now,
        id,
      ]);
      await this.ctx.appendAudit(tx, [auditEvents.calendarSynced(context, tenantId, id, counts)]);
      return connectionFromRow(await requireRow(tx, tenantId, id));
    });
  }

  async busyBlocks(tenantId: string, id: string): Promise<readonly StoredBusyBlock[]> {
    await requireRow(this.ctx.port, tenantId, id);
    const rows = await this.ctx.port.all<BusyBlockRow>(
      `SELECT * FROM busy_blocks WHERE tenant_id = $1 AND connection_id = $2 ORDER BY start_at, event_id${this.ctx.port.sql.byteOrder}`,
      [tenantId, id],
    );
    return rows.map(busyBlockFromRow);
  }
}
