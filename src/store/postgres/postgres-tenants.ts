// Tenants and overrides on PostgreSQL: the same behaviour as SQLite's, write by write.

import { auditEvents } from '../audit-events.js';
import { OverrideNotFoundError, TenantExistsError, TenantNotFoundError } from '../../errors.js';
import type { NewTenant, Override, OverrideInput, OverrideRepository, Page, Tenant, TenantRepository, WriteCondition, WriteContext } from '../store.js';
import { checkCondition, overrideAfterSet, overrideFromRow, type OverrideRow } from '../sqlite/sqlite-overrides.js';
import { tenantFromRow, type TenantRow } from '../sqlite/sqlite-tenants.js';
import type { PostgresContext, Queryable } from './postgres-database.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

async function findTenant(db: Queryable, id: string): Promise<Tenant | undefined> {
  const row = (await db.query<TenantRow>('SELECT * FROM tenants WHERE id = $1', [id])).rows[0];
  return row ? tenantFromRow(row) : undefined;
}

export class PostgresTenants implements TenantRepository {
  constructor(private readonly ctx: PostgresContext) {}

  create(tenant: NewTenant, context: WriteContext): Promise<Tenant> {
    return this.ctx.write(async (db) => {
      if (await findTenant(db, tenant.id)) throw new TenantExistsError(tenant.id);
      const now = this.ctx.nowIso();
      await db.query('INSERT INTO tenants (id, name, plan, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)', [tenant.id, tenant.name, tenant.plan, now, now]);
      const created: Tenant = { ...tenant, createdAt: now, updatedAt: now };
      await this.ctx.appendAudit(db, auditEvents.tenantCreated(context, created));
      return created;
    });
  }

  get(id: string): Promise<Tenant | undefined> {
    return this.ctx.read((db) => findTenant(db, id));
  }

  list(options: { after?: string; limit?: number } = {}): Promise<Page<Tenant>> {
    const limit = Math.min(Math.max(options.limit ?? DEFAULT_PAGE, 1), MAX_PAGE);
    return this.ctx.read(async (db) => {
      // COLLATE "C": byte order, as SQLite sorts, whatever the database's collation.
      const rows = (await db.query<TenantRow>('SELECT * FROM tenants WHERE id COLLATE "C" > $1 ORDER BY id COLLATE "C" LIMIT $2', [options.after ?? '', limit + 1])).rows;
      const items = rows.slice(0, limit).map(tenantFromRow);
      const last = items.at(-1);
      return rows.length > limit && last ? { items, nextCursor: last.id } : { items };
    });
  }

  setPlan(id: string, plan: string, context: WriteContext): Promise<{ before: Tenant; after: Tenant }> {
    return this.ctx.write(async (db) => {
      const before = await findTenant(db, id);
      if (!before) throw new TenantNotFoundError(id);
      const now = this.ctx.nowIso();
      await db.query('UPDATE tenants SET plan = $1, updated_at = $2 WHERE id = $3', [plan, now, id]);
      const after: Tenant = { ...before, plan, updatedAt: now };
      await this.ctx.appendAudit(db, auditEvents.tenantPlanChanged(context, before, plan));
      return { before, after };
    });
  }

  delete(id: string, context: WriteContext): Promise<Tenant> {
    return this.ctx.write(async (db) => {
      const before = await findTenant(db, id);
      if (!before) throw new TenantNotFoundError(id);
      // Overrides, tokens and connections go with the tenant (ON DELETE CASCADE); audit rows stay.
      await db.query('DELETE FROM tenants WHERE id = $1', [id]);
      await this.ctx.appendAudit(db, auditEvents.tenantDeleted(context, before));
      return before;
    });
  }
}

async function findOverride(db: Queryable, tenantId: string, feature: string): Promise<Override | undefined> {
  const row = (await db.query<OverrideRow>('SELECT * FROM overrides WHERE tenant_id = $1 AND feature = $2', [tenantId, feature])).rows[0];
  return row ? overrideFromRow(row) : undefined;
}

export class PostgresOverrides implements OverrideRepository {
  constructor(private readonly ctx: PostgresContext) {}

  set(input: OverrideInput, context: WriteContext, condition?: WriteCondition): Promise<{ before: Override | undefined; after: Override }> {
    return this.ctx.write(async (db) => {
      if (!(await findTenant(db, input.tenantId))) throw new TenantNotFoundError(input.tenantId);
      const before = await findOverride(db, input.tenantId, input.feature);
      checkCondition(`The override of "${input.feature}" for tenant "${input.tenantId}"`, before, condition);
      const after = overrideAfterSet(input, before, context.actor, this.ctx.nowIso());
      await db.query(
        `INSERT INTO overrides (tenant_id, feature, value, reason, actor, expires_at, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, feature) DO UPDATE SET value = excluded.value, reason = excluded.reason, actor = excluded.actor,
           expires_at = excluded.expires_at, updated_at = excluded.updated_at, version = excluded.version`,
        [after.tenantId, after.feature, JSON.stringify(after.value), after.reason, after.actor, after.expiresAt, after.createdAt, after.updatedAt, after.version],
      );
      await this.ctx.appendAudit(db, auditEvents.overrideSet(context, input.tenantId, input.feature, before, after));
      return { before, after };
    });
  }

  get(tenantId: string, feature: string): Promise<Override | undefined> {
    return this.ctx.read((db) => findOverride(db, tenantId, feature));
  }

  list(filter: { tenantId?: string; feature?: string } = {}): Promise<readonly Override[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.tenantId !== undefined) where.push(`tenant_id = $${params.push(filter.tenantId)}`);
    if (filter.feature !== undefined) where.push(`feature = $${params.push(filter.feature)}`);
    const sql = `SELECT * FROM overrides ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY tenant_id COLLATE "C", feature COLLATE "C"`;
    return this.ctx.read(async (db) => (await db.query<OverrideRow>(sql, params)).rows.map(overrideFromRow));
  }

  clear(tenantId: string, feature: string, context: WriteContext & { reason?: string }, condition?: WriteCondition): Promise<Override> {
    return this.ctx.write(async (db) => {
      const before = await findOverride(db, tenantId, feature);
      if (!before) throw new OverrideNotFoundError(tenantId, feature);
      checkCondition(`The override of "${feature}" for tenant "${tenantId}"`, before, condition);
      await db.query('DELETE FROM overrides WHERE tenant_id = $1 AND feature = $2', [tenantId, feature]);
      await this.ctx.appendAudit(db, auditEvents.overrideCleared(context, tenantId, feature, before));
      return before;
    });
  }
}
