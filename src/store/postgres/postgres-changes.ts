// The change feed on PostgreSQL: the `changes` table (filled by triggers, in commit order
// because writes are serialized) says which tenants changed; LISTEN/NOTIFY (postgres-listener)
// says at once that another instance wrote, or that the database is out of reach.

import type { ChangeFeed, TenantSnapshot } from '../store.js';
import { overrideFromRow, type OverrideRow } from '../sqlite/sqlite-overrides.js';
import { tenantFromRow, type TenantRow } from '../sqlite/sqlite-tenants.js';
import type { PostgresContext, PostgresOptions } from './postgres-database.js';
import { ChangeListener } from './postgres-listener.js';

export const CHANGE_HISTORY = 10_000;

export class PostgresChangeFeed implements ChangeFeed {
  #writes = 0;
  readonly #listener: ChangeListener;

  constructor(
    private readonly ctx: PostgresContext,
    options: PostgresOptions,
  ) {
    this.#listener = new ChangeListener(options);
    ctx.addHook(async () => {
      if (++this.#writes % 1000 !== 0) return;
      await ctx.pool.query('DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes) - $1', [CHANGE_HISTORY]);
    });
  }

  loadAll(): Promise<{ cursor: string; tenants: readonly TenantSnapshot[] }> {
    // One snapshot for the cursor, the tenants and the overrides.
    return this.ctx.snapshot(async (db) => {
      const cursor = String((await db.query<{ seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM changes')).rows[0]?.seq ?? 0);
      const overrides = new Map<string, ReturnType<typeof overrideFromRow>[]>();
      for (const row of (await db.query<OverrideRow>('SELECT * FROM overrides')).rows) {
        const list = overrides.get(row.tenant_id) ?? [];
        list.push(overrideFromRow(row));
        overrides.set(row.tenant_id, list);
      }
      const tenants = (await db.query<TenantRow>('SELECT * FROM tenants')).rows.map((row) => ({ tenant: tenantFromRow(row), overrides: overrides.get(row.id) ?? [] }));
      return { cursor, tenants };
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
    return this.#listener.add({ signal, health });
  }

  /** Stops listening for every watcher (the store is closing). */
  close(): void {
    this.#listener.stop();
  }
}
