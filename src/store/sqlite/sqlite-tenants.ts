// Tenants on SQLite.

import { auditEvents } from '../audit-events.js';
import { TenantExistsError, TenantNotFoundError } from '../../errors.js';
import type { NewTenant, Page, Tenant, TenantRepository, WriteContext } from '../store.js';
import type { SqliteContext } from './sqlite-database.js';

export interface TenantRow {
  id: string;
  name: string;
  plan: string;
  created_at: string;
  updated_at: string;
}

export function tenantFromRow(row: TenantRow): Tenant {
  return { id: row.id, name: row.name, plan: row.plan, createdAt: row.created_at, updatedAt: row.updated_at };
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

export class SqliteTenants implements TenantRepository {
  readonly #byId;
  readonly #page;
  readonly #insert;
  readonly #updatePlan;
  readonly #delete;

  constructor(private readonly ctx: SqliteContext) {
    const { db } = ctx;
    this.#byId = db.prepare('SELECT * FROM tenants WHERE id = ?');
    this.#page = db.prepare('SELECT * FROM tenants WHERE id > ? ORDER BY id LIMIT ?');
    this.#insert = db.prepare('INSERT INTO tenants (id, name, plan, created_at, updated_at) VALUES (?, ?, ?, ?, ?)');
    this.#updatePlan = db.prepare('UPDATE tenants SET plan = ?, updated_at = ? WHERE id = ?');
    this.#delete = db.prepare('DELETE FROM tenants WHERE id = ?');
  }

  #find(id: string): Tenant | undefined {
    const row = this.#byId.get(id) as TenantRow | undefined;
    return row ? tenantFromRow(row) : undefined;
  }

  create(tenant: NewTenant, context: WriteContext): Promise<Tenant> {
    return this.ctx.write(() => {
      if (this.#find(tenant.id)) throw new TenantExistsError(tenant.id);
      const now = this.ctx.nowIso();
      this.#insert.run(tenant.id, tenant.name, tenant.plan, now, now);
      const created: Tenant = { ...tenant, createdAt: now, updatedAt: now };
      this.ctx.appendAudit(auditEvents.tenantCreated(context, created));
      return created;
    });
  }

  async get(id: string): Promise<Tenant | undefined> {
    return this.#find(id);
  }

  async list(options: { after?: string; limit?: number } = {}): Promise<Page<Tenant>> {
    const limit = Math.min(Math.max(options.limit ?? DEFAULT_PAGE, 1), MAX_PAGE);
    const rows = this.#page.all(options.after ?? '', limit + 1) as TenantRow[];
    const items = rows.slice(0, limit).map(tenantFromRow);
    const last = items.at(-1);
    return rows.length > limit && last ? { items, nextCursor: last.id } : { items };
  }

  setPlan(id: string, plan: string, context: WriteContext): Promise<{ before: Tenant; after: Tenant }> {
    return this.ctx.write(() => {
      const before = this.#find(id);
      if (!before) throw new TenantNotFoundError(id);
      const now = this.ctx.nowIso();
      this.#updatePlan.run(plan, now, id);
      const after: Tenant = { ...before, plan, updatedAt: now };
      this.ctx.appendAudit(auditEvents.tenantPlanChanged(context, before, plan));
      return { before, after };
    });
  }

  delete(id: string, context: WriteContext): Promise<Tenant> {
    return this.ctx.write(() => {
      const before = this.#find(id);
      if (!before) throw new TenantNotFoundError(id);
      // Overrides, tokens and connections go with the tenant (ON DELETE CASCADE); audit rows stay.
      this.#delete.run(id);
      this.ctx.appendAudit(auditEvents.tenantDeleted(context, before));
      return before;
    });
  }
}

