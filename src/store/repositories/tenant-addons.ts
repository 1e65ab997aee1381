// Add-ons a tenant holds beside its plan, each with a quantity; every change audited. An operator
// sets the rows of tenant_addons; billing owns billing_addons (repositories/billing.ts) and reads
// here only come with both.

import { auditEvents } from '../audit-events.js';
import { AddonNotHeldError } from '../../errors.js';
import type { AddonRepository, TenantAddon, WriteContext } from '../store.js';
import { requireTenant } from './tenants.js';
import type { StoreContext } from './store-context.js';
import type { SqlExecutor } from '../sql-port.js';
import type { BillingProviderName } from '../../policy/types.js';

export interface TenantAddonRow {
  tenant_id: string;
  addon: string;
  quantity: number;
  created_at: string;
  updated_at: string;
  /** Set on billing's rows only (see {@link addonRowsWhere}). */
  provider?: string | null;
  subscription_id?: string | null;
  [column: string]: unknown;
}

export function tenantAddonFromRow(row: TenantAddonRow): TenantAddon {
  const held: TenantAddon = {
    tenantId: row.tenant_id,
    addon: row.addon,
    quantity: Number(row.quantity),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  return row.provider && row.subscription_id
    ? { ...held, billing: { provider: row.provider as BillingProviderName, subscriptionId: row.subscription_id } }
    : held;
}

/**
 * Every add-on row of the tenants `where` picks (it is given the column), the operator's and
 * billing's in one statement: the operator's carry no provider.
 */
export function addonRowsWhere(where: (column: string) => string): string {
  return `SELECT tenant_id, addon, quantity, created_at, updated_at, NULL AS provider, NULL AS subscription_id FROM tenant_addons WHERE ${where('tenant_id')}
    UNION ALL SELECT tenant_id, addon, quantity, created_at, updated_at, provider, subscription_id FROM billing_addons WHERE ${where('tenant_id')}`;
}

async function findAddon(db: SqlExecutor, tenantId: string, addon: string): Promise<TenantAddon | undefined> {
  const row = await db.get<TenantAddonRow>('SELECT * FROM tenant_addons WHERE tenant_id = $1 AND addon = $2', [
    tenantId,
    addon,
  ]);
  return row ? tenantAddonFromRow(row) : undefined;
}

export class TenantAddonStore implements AddonRepository {
  constructor(private readonly ctx: StoreContext) {}

  set(
    tenantId: string,
    addon: string,
    quantity: number,
    context: WriteContext,
  ): Promise<{ before: TenantAddon | undefined; after: TenantAddon }> {
    return this.ctx.write(async (tx) => {
      await requireTenant(tx, tenantId);
      const before = await findAddon(tx, tenantId, addon);
      const now = this.ctx.nowIso();
      const after: TenantAddon = { tenantId, addon, quantity, createdAt: before?.createdAt ?? now, updatedAt: now };
      if (before?.quantity === quantity) return { before, after: before };
      await tx.run(
        `INSERT INTO tenant_addons (tenant_id, addon, quantity, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)
          ON CONFLICT (tenant_id, addon) DO UPDATE SET quantity = excluded.quantity, updated_at = excluded.updated_at`,
        [tenantId, addon, quantity, after.createdAt, now],
      );
      await this.ctx.appendAudit(tx, [auditEvents.addonSet(context, tenantId, addon, before, after)]);
      return { before, after };
    });
  }

  remove(tenantId: string, addon: string, context: WriteContext): Promise<TenantAddon> {
    return this.ctx.write(async (tx) => {
      const before = await findAddon(tx, tenantId, addon);
      if (!before) throw new AddonNotHeldError(tenantId, addon);
      await tx.run('DELETE FROM tenant_addons WHERE tenant_id = $1 AND addon = $2', [tenantId, addon]);
      await this.ctx.appendAudit(tx, [auditEvents.addonRemoved(context, tenantId, addon, before)]);
      return before;
    });
  }

  async list(tenantId: string): Promise<readonly TenantAddon[]> {
    const { byteOrder } = this.ctx.port.sql;
    const rows = await this.ctx.port.all<TenantAddonRow>(
      `SELECT * FROM (${addonRowsWhere((column) => `${column} = $1`)}) held ORDER BY addon${byteOrder}, provider${byteOrder} NULLS FIRST, subscription_id${byteOrder}`,
      [tenantId],
    );
    return rows.map(tenantAddonFromRow);
  }
}
