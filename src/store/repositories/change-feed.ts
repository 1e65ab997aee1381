// The change feed's queries: the `changes` table (filled by triggers, in commit order because
// writes are serialized) says which tenants changed. How a process learns that another one
// wrote (SQLite data_version polling, PostgreSQL LISTEN/NOTIFY) is the dialect's `watch`.

import type { SubscriptionState } from '../subscription-state.js';
import type { BillingLink, ChangeFeed, Override, TenantAddon, TenantSnapshot } from '../store.js';
import { addonRowsWhere, tenantAddonFromRow, type TenantAddonRow } from './tenant-addons.js';
import { JOINED_LINK_COLUMNS, joinedLinkOf, loadLinks, loadSubscriptions, tenantBillingOf } from './billing.js';
import { overrideFromRow, tenantFromRow, type OverrideRow, type TenantRow } from './rows.js';
import type { SqlExecutor } from '../sql-port.js';
import type { StoreContext } from './store-context.js';

/** How much history the feed keeps; a reader further behind reloads everything. */
export const CHANGE_HISTORY = 10_000;
/** Old history is pruned once every this many writes. */
const PRUNE_EVERY = 1000;

export class ChangeQueries implements ChangeFeed {
  #writes = 0;

  constructor(
    private readonly ctx: StoreContext,
    readonly watch: ChangeFeed['watch'],
  ) {
    ctx.addHook(async () => {
      if (++this.#writes % PRUNE_EVERY !== 0) return;
      await ctx.port.run('DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes) - $1', [CHANGE_HISTORY]);
    });
  }

  loadAll(): Promise<{ cursor: string; tenants: readonly TenantSnapshot[] }> {
    // One snapshot for the cursor, the tenants and the overrides.
    return this.ctx.port.snapshot(async (tx) => {
      const cursor = String(
        (await tx.get<{ seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM changes'))?.seq ?? 0,
      );
      const overrides = byTenant(await tx.all<OverrideRow>('SELECT * FROM overrides'));
      const addons = addonsByTenant(await tx.all<TenantAddonRow>(addonRowsWhere(() => 'TRUE')));
      const subscriptions = await loadSubscriptions(tx);
      const links = await loadLinks(tx);
      const tenants = (await tx.all<TenantRow>('SELECT * FROM tenants')).map((row) =>
        snapshotOf(row, overrides, addons, subscriptions, links.get(row.id)),
      );
      return { cursor, tenants };
    });
  }

  async head(): Promise<string> {
    const row = await this.ctx.port.get<{ seq: number | string | null }>('SELECT max(seq) AS seq FROM changes');
    return String(row?.seq ?? 0);
  }

  async page(after: string, limit: number): Promise<readonly TenantSnapshot[]> {
    const { byteOrder } = this.ctx.port.sql;
    const ids = await this.ctx.port.all<{ id: string }>(
      `SELECT id FROM tenants WHERE id${byteOrder} > $1 ORDER BY id${byteOrder} LIMIT $2`,
      [after, limit],
    );
    const snapshots = await this.load(ids.map((row) => row.id));
    // Byte order, as the ids were read (load answers in no particular order).
    const order = new Map(ids.map((row, index) => [row.id, index]));
    return [...snapshots].sort((a, b) => (order.get(a.tenant.id) ?? 0) - (order.get(b.tenant.id) ?? 0));
  }

  async since(cursor: string): Promise<{ cursor: string; tenantIds: readonly string[] } | { reload: true }> {
    const from = Number(cursor);
    if (!Number.isSafeInteger(from)) return { reload: true };
    // The oldest row kept comes with the rows: one statement. No rows after the cursor means the
    // cursor is at the newest row or beyond it, never behind what was pruned.
    const rows = await this.ctx.port.all<{ seq: number; tenant_id: string; oldest: number }>(
      'SELECT seq, tenant_id, (SELECT min(seq) FROM changes) AS oldest FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2',
      [from, CHANGE_HISTORY + 1],
    );
    const oldest = rows[0]?.oldest;
    if (rows.length > CHANGE_HISTORY || (oldest !== undefined && from < Number(oldest) - 1)) return { reload: true };
    const last = rows.at(-1);
    return { cursor: last ? String(last.seq) : cursor, tenantIds: [...new Set(rows.map((row) => row.tenant_id))] };
  }

  async load(tenantIds: readonly string[]): Promise<readonly TenantSnapshot[]> {
    if (tenantIds.length === 0) return [];
    const { port } = this.ctx;
    // After a write the feed names one tenant: a plain equality, cheaper than a list.
    const one = tenantIds.length === 1;
    const param = one ? (tenantIds[0] as string) : port.list(tenantIds);
    const where = (column: string) => (one ? `${column} = $1` : port.sql.inList(column, '$1'));
    // Plain reads, no snapshot: this runs after every write, and a change that lands between
    // them is in the feed, so the caller loads the tenant again on its next signal.
    const [tenants, overrides, addons, subscriptions] = await Promise.all([
      port.all<TenantRow>(
        `SELECT t.*, ${JOINED_LINK_COLUMNS} FROM tenants t LEFT JOIN billing_links l ON l.tenant_id = t.id WHERE ${where('t.id')}`,
        [param],
      ),
      port.all<OverrideRow>(`SELECT * FROM overrides WHERE ${where('tenant_id')}`, [param]),
      port.all<TenantAddonRow>(addonRowsWhere(where), [param]),
      loadSubscriptions(port, { condition: where, params: [param] }),
    ]);
    const byId = byTenant(overrides);
    const addonsById = addonsByTenant(addons);
    return tenants.map((row) => snapshotOf(row, byId, addonsById, subscriptions, joinedLinkOf(row)));
  }
}

/** One tenant as a transaction sees it (the webhook outbox reads it inside the causing write). */
export async function loadTenantSnapshot(tx: SqlExecutor, tenantId: string): Promise<TenantSnapshot | undefined> {
  const row = await tx.get<TenantRow>(
    `SELECT t.*, ${JOINED_LINK_COLUMNS} FROM tenants t LEFT JOIN billing_links l ON l.tenant_id = t.id WHERE t.id = $1`,
    [tenantId],
  );
  if (!row) return undefined;
  const overrides = byTenant(await tx.all<OverrideRow>('SELECT * FROM overrides WHERE tenant_id = $1', [tenantId]));
  const addons = addonsByTenant(
    await tx.all<TenantAddonRow>(
      addonRowsWhere((column) => `${column} = $1`),
      [tenantId],
    ),
  );
  const subscriptions = await loadSubscriptions(tx, { condition: (column) => `${column} = $1`, params: [tenantId] });
  return snapshotOf(row, overrides, addons, subscriptions, joinedLinkOf(row));
}

function snapshotOf(
  row: TenantRow,
  overrides: ReadonlyMap<string, Override[]>,
  addons: ReadonlyMap<string, TenantAddon[]>,
  subscriptions: ReadonlyMap<string, readonly SubscriptionState[]>,
  link: BillingLink | undefined,
): TenantSnapshot {
  const tenantBilling = tenantBillingOf(link, subscriptions.get(row.id));
  return {
    tenant: tenantFromRow(row),
    overrides: overrides.get(row.id) ?? [],
    ...(addons.has(row.id) ? { addons: addons.get(row.id) } : {}),
    ...(tenantBilling ? { billing: tenantBilling } : {}),
  };
}

function addonsByTenant(rows: readonly TenantAddonRow[]): Map<string, TenantAddon[]> {
  const addons = new Map<string, TenantAddon[]>();
  for (const row of rows) {
    const list = addons.get(row.tenant_id) ?? [];
    list.push(tenantAddonFromRow(row));
    addons.set(row.tenant_id, list);
  }
  return addons;
}

function byTenant(rows: readonly OverrideRow[]): Map<string, Override[]> {
  const overrides = new Map<string, Override[]>();
  for (const row of rows) {
    const list = overrides.get(row.tenant_id);
    if (list) list.push(overrideFromRow(row));
    else overrides.set(row.tenant_id, [overrideFromRow(row)]);
  }
  return overrides;
}
