// The change feed on PostgreSQL: the `changes` table (filled by triggers, in commit order
// because writes are serialized) says which tenants changed; LISTEN/NOTIFY says at once that
// another instance wrote. A dropped listener reconnects with backoff and signals once more,
// so a cache re-reads and never stays stale after the reconnection.

import pg from 'pg';
import type { ChangeFeed, TenantSnapshot } from '../store.js';
import { overrideFromRow, type OverrideRow } from '../sqlite/sqlite-overrides.js';
import { tenantFromRow, type TenantRow } from '../sqlite/sqlite-tenants.js';
import { clientConfig, type PostgresContext, type PostgresOptions } from './postgres-database.js';

export const CHANGE_HISTORY = 10_000;
export const CHANNEL = 'entitle_changes';
const MAX_BACKOFF_MS = 5_000;

export class PostgresChangeFeed implements ChangeFeed {
  #writes = 0;

  constructor(
    private readonly ctx: PostgresContext,
    private readonly options: PostgresOptions,
  ) {
    ctx.addHook(async () => {
      if (++this.#writes % 1000 !== 0) return;
      await ctx.pool.query('DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes) - $1', [CHANGE_HISTORY]);
    });
  }

  loadAll(): Promise<{ cursor: string; tenants: readonly TenantSnapshot[] }> {
    return this.ctx.read(async () => {
      // One snapshot for the cursor, the tenants and the overrides.
      const client = await this.ctx.pool.connect();
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const cursor = String((await client.query<{ seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM changes')).rows[0]?.seq ?? 0);
        const overrides = new Map<string, ReturnType<typeof overrideFromRow>[]>();
        for (const row of (await client.query<OverrideRow>('SELECT * FROM overrides')).rows) {
          const list = overrides.get(row.tenant_id) ?? [];
          list.push(overrideFromRow(row));
          overrides.set(row.tenant_id, list);
        }
        const tenants = (await client.query<TenantRow>('SELECT * FROM tenants')).rows.map((row) => ({ tenant: tenantFromRow(row), overrides: overrides.get(row.id) ?? [] }));
        await client.query('COMMIT');
        return { cursor, tenants };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    });
  }

  since(cursor: string): Promise<{ cursor: string; tenantIds: readonly string[] } | { reload: true }> {
    return this.ctx.read(async (db) => {
      const from = Number(cursor);
      const oldest = (await db.query<{ seq: number | null }>('SELECT min(seq) AS seq FROM changes')).rows[0]?.seq ?? null;
      if (!Number.isSafeInteger(from) || (oldest !== null && from < oldest - 1)) return { reload: true as const };
      const rows = (await db.query<{ seq: number; tenant_id: string }>('SELECT seq, tenant_id FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2', [from, CHANGE_HISTORY + 1])).rows;
      if (rows.length > CHANGE_HISTORY) return { reload: true as const };
      const last = rows.at(-1);
      return { cursor: last ? String(last.seq) : cursor, tenantIds: [...new Set(rows.map((row) => row.tenant_id))] };
    });
  }

  load(tenantIds: readonly string[]): Promise<readonly TenantSnapshot[]> {
    if (tenantIds.length === 0) return Promise.resolve([]);
    return this.ctx.read(async (db) => {
      const tenants = (await db.query<TenantRow>('SELECT * FROM tenants WHERE id = ANY($1)', [tenantIds])).rows;
      const overrides = (await db.query<OverrideRow>('SELECT * FROM overrides WHERE tenant_id = ANY($1)', [tenantIds])).rows;
      return tenants.map((row) => ({ tenant: tenantFromRow(row), overrides: overrides.filter((o) => o.tenant_id === row.id).map(overrideFromRow) }));
    });
  }

  watch(signal: () => void, health?: (connected: boolean) => void): () => void {
    let stopped = false;
    let client: pg.Client | undefined;
    let backoff = 100;
    let timer: NodeJS.Timeout | undefined;
    const connect = async (): Promise<void> => {
      if (stopped) return;
      // Named, so an operator (or a test) can find this instance's listener in pg_stat_activity.
      const listener = new pg.Client({ ...clientConfig(this.options), application_name: `entitle-listener:${this.options.schema ?? 'default'}` });
      client = listener;
      let retried = false;
      // The connection is gone (or never came): reconnect, and signal once it is back.
      const retry = () => {
        if (stopped || retried) return;
        retried = true;
        health?.(false);
        timer = setTimeout(() => void connect(), backoff);
        timer.unref();
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      };
      listener.on('notification', () => signal());
      listener.on('error', retry);
      listener.on('end', retry);
      try {
        await listener.connect();
        await listener.query(`LISTEN ${CHANNEL}`);
        backoff = 100;
        health?.(true);
        signal();
      } catch {
        retry();
        await listener.end().catch(() => undefined);
      }
    };
    void connect();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      void client?.end().catch(() => undefined);
    };
  }
}
