// Tenants: created, re-planned and deleted with their audit row, listed in byte order of id.

import { auditEvents } from '../audit-events.js';
import { TenantExistsError, TenantNotFoundError } from '../../errors.js';
import type { SqlExecutor } from '../sql-port.js';
import type { NewTenant, Page, PlanPlacement, Tenant, TenantRepository, WriteContext } from '../store.js';
import { tenantFromRow, type TenantRow } from './rows.js';
import { pageSize, type StoreContext } from './store-context.js';

export async function findTenant(db: SqlExecutor, id: string): Promise<Tenant | undefined> {
  const row = await db.get<TenantRow>('SELECT * FROM tenants WHERE id = $1', [id]);
  return row ? tenantFromRow(row) : undefined;
}

/** Throws TenantNotFoundError unless the tenant exists. */
export async function requireTenant(db: SqlExecutor, id: string): Promise<void> {
  if (!(await db.get('SELECT 1 AS found FROM tenants WHERE id = $1', [id]))) throw new TenantNotFoundError(id);
}

export class TenantStore implements TenantRepository {
  constructor(private readonly ctx: StoreContext) {}

  create(tenant: NewTenant, context: WriteContext): Promise<Tenant> {
    return this.ctx.write(async (tx) => {
      if (await findTenant(tx, tenant.id)) throw new TenantExistsError(tenant.id);
      const now = this.ctx.nowIso();
      await tx.run(
        'INSERT INTO tenants (id, name, plan, plan_version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [tenant.id, tenant.name, tenant.plan, tenant.planVersion ?? 1, now, now],
      );
      const created: Tenant = { ...tenant, planVersion: tenant.planVersion ?? 1, createdAt: now, updatedAt: now };
      await this.ctx.appendAudit(tx, [auditEvents.tenantCreated(context, created)]);
      return created;
    });
  }

  get(id: string): Promise<Tenant | undefined> {
    return findTenant(this.ctx.port, id);
  }

  async list(options: { after?: string; limit?: number } = {}): Promise<Page<Tenant>> {
    const limit = pageSize(options.limit);
    const { byteOrder } = this.ctx.port.sql;
    // Byte order on both databases, whatever PostgreSQL's collation: the cursor pages the same.
    const rows = await this.ctx.port.all<TenantRow>(
      `SELECT * FROM tenants WHERE id${byteOrder} > $1 ORDER BY id${byteOrder} LIMIT $2`,
      [options.after ?? '', limit + 1],
    );
    const items = rows.slice(0, limit).map(tenantFromRow);
    const last = items.at(-1);
    return rows.length > limit && last ? { items, nextCursor: last.id } : { items };
  }

  setPlan(id: string, placement: PlanPlacement, context: WriteContext): Promise<{ before: Tenant; after: Tenant }> {
    return this.ctx.write(async (tx) => {
      const before = await findTenant(tx, id);
      if (!before) throw new TenantNotFoundError(id);
      const now = this.ctx.nowIso();
      const { plan, planVersion } = placement;
      await tx.run('UPDATE tenants SET plan = $1, plan_version = $2, updated_at = $3 WHERE id = $4', [
        plan,
        planVersion,
        now,
        id,
      ]);
      await this.ctx.appendAudit(tx, [auditEvents.tenantPlanChanged(context, before, placement)]);
      return { before, after: { ...before, plan, planVersion, updatedAt: now } };
    });
  }

  async versionCounts(): Promise<readonly { plan: string; planVersion: number; tenants: number }[]> {
    const rows = await this.ctx.port.all<{ plan: string; plan_version: number; tenants: number | string }>(
      'SELECT plan, plan_version, count(*) AS tenants FROM tenants GROUP BY plan, plan_version',
    );
    return rows.map((row) => ({ plan: row.plan, planVersion: Number(row.plan_version), tenants: Number(row.tenants) }));
  }

  async idsOnVersion(plan: string, version: number): Promise<readonly string[]> {
    const { byteOrder } = this.ctx.port.sql;
    const rows = await this.ctx.port.all<{ id: string }>(
      `SELECT id FROM tenants WHERE plan = $1 AND plan_version = $2 ORDER BY id${byteOrder}`,
      [plan, version],
    );
    return rows.map((row) => row.id);
  }

  migrateVersion(
    id: string,
    move: { readonly plan: string; readonly from: number; readonly to: number },
    context: WriteContext,
    details: Readonly<Record<string, unknown>>,
  ): Promise<Tenant | undefined> {
    return this.ctx.write(async (tx) => {
      const before = await findTenant(tx, id);
      if (!before || before.plan !== move.plan || before.planVersion !== move.from) return undefined;
      await tx.run('UPDATE tenants SET plan_version = $1, updated_at = $2 WHERE id = $3', [
        move.to,
        this.ctx.nowIso(),
        id,
      ]);
      await this.ctx.appendAudit(tx, [auditEvents.tenantVersionMigrated(context, before, move.to, details)]);
      return before;
    });
  }

  delete(id: string, context: WriteContext): Promise<Tenant> {
    return this.ctx.write(async (tx) => {
      const before = await findTenant(tx, id);
      if (!before) throw new TenantNotFoundError(id);
      // Overrides, tokens and connections go with the tenant (ON DELETE CASCADE); audit rows stay.
      await tx.run('DELETE FROM tenants WHERE id = $1', [id]);
      await this.ctx.appendAudit(tx, [auditEvents.tenantDeleted(context, before)]);
      return before;
    });
  }
}
