// The change feed on SQLite: the `changes` table (filled by triggers) says which tenants
// changed in commit order; `PRAGMA data_version` says cheaply when another process wrote.

import type { ChangeFeed, TenantSnapshot } from '../store.js';
import type { SqliteContext } from './sqlite-database.js';
import { overrideFromRow, type OverrideRow } from './sqlite-overrides.js';
import { tenantFromRow } from './sqlite-tenants.js';

/** How much history the feed keeps; a reader further behind reloads everything. */
export const CHANGE_HISTORY = 10_000;
/** How often to look for other processes' writes. The gate promises 100 ms; this leaves room. */
export const WATCH_INTERVAL_MS = 20;

export class SqliteChangeFeed implements ChangeFeed {
  readonly #latest;
  readonly #oldest;
  readonly #since;
  readonly #prune;
  readonly #dataVersion;
  readonly #tenant;
  readonly #overridesOf;
  #writesSincePrune = 0;

  constructor(private readonly ctx: SqliteContext) {
    const { db } = ctx;
    this.#latest = db.prepare('SELECT coalesce(max(seq), 0) FROM changes').pluck();
    this.#oldest = db.prepare('SELECT min(seq) FROM changes').pluck();
    this.#since = db.prepare('SELECT seq, tenant_id FROM changes WHERE seq > ? ORDER BY seq LIMIT ?');
    this.#prune = db.prepare('DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes) - ?');
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck();
    this.#tenant = db.prepare('SELECT * FROM tenants WHERE id = ?');
    this.#overridesOf = db.prepare('SELECT * FROM overrides WHERE tenant_id = ?');
    ctx.addHook(() => this.#pruneNow());
  }

  async loadAll(): Promise<{ cursor: string; tenants: readonly TenantSnapshot[] }> {
    const { db } = this.ctx;
    return db.transaction(() => {
      const cursor = String(this.#latest.get());
      const overrides = new Map<string, ReturnType<typeof overrideFromRow>[]>();
      for (const row of db.prepare('SELECT * FROM overrides').iterate() as Iterable<OverrideRow>) {
        const list = overrides.get(row.tenant_id) ?? [];
        list.push(overrideFromRow(row));
        overrides.set(row.tenant_id, list);
      }
      const tenants = (db.prepare('SELECT * FROM tenants').all() as Parameters<typeof tenantFromRow>[0][]).map((row) => ({
        tenant: tenantFromRow(row),
        overrides: overrides.get(row.id) ?? [],
      }));
      return { cursor, tenants };
    })();
  }

  async since(cursor: string): Promise<{ cursor: string; tenantIds: readonly string[] } | { reload: true }> {
    const from = Number(cursor);
    const oldest = this.#oldest.get() as number | null;
    if (!Number.isSafeInteger(from) || (oldest !== null && from < oldest - 1)) return { reload: true };
    const rows = this.#since.all(from, CHANGE_HISTORY + 1) as { seq: number; tenant_id: string }[];
    if (rows.length > CHANGE_HISTORY) return { reload: true };
    const last = rows.at(-1);
    return { cursor: last ? String(last.seq) : cursor, tenantIds: [...new Set(rows.map((row) => row.tenant_id))] };
  }

  async load(tenantIds: readonly string[]): Promise<readonly TenantSnapshot[]> {
    return this.ctx.db.transaction(() =>
      tenantIds.flatMap((id) => {
        const row = this.#tenant.get(id) as Parameters<typeof tenantFromRow>[0] | undefined;
        if (!row) return [];
        return [{ tenant: tenantFromRow(row), overrides: (this.#overridesOf.all(id) as OverrideRow[]).map(overrideFromRow) }];
      }),
    )();
  }

  watch(signal: () => void): () => void {
    let seen = this.#dataVersion.get();
    const timer = setInterval(() => {
      const now = this.#dataVersion.get();
      if (now !== seen) {
        seen = now;
        signal();
      }
    }, WATCH_INTERVAL_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  #pruneNow(): void {
    if (++this.#writesSincePrune < 1000) return;
    this.#writesSincePrune = 0;
    this.#prune.run(CHANGE_HISTORY);
  }
}
