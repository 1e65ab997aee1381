// Per-tenant overrides on SQLite, with optimistic concurrency on their version.

import { auditEvents } from '../audit-events.js';
import { OverrideNotFoundError, TenantNotFoundError, VersionConflictError } from '../../errors.js';
import type { FeatureValue } from '../../policy/types.js';
import type { Override, OverrideInput, OverrideRepository, WriteCondition, WriteContext } from '../store.js';
import type { SqliteContext } from './sqlite-database.js';

export interface OverrideRow {
  tenant_id: string;
  feature: string;
  value: string;
  reason: string;
  actor: string;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
  version: number;
}

export function overrideFromRow(row: OverrideRow): Override {
  return {
    tenantId: row.tenant_id,
    feature: row.feature,
    value: JSON.parse(row.value) as FeatureValue,
    reason: row.reason,
    actor: row.actor,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
  };
}

/** The override a set leaves: a new version, the first creation time kept. */
export function overrideAfterSet(input: OverrideInput, before: Override | undefined, actor: string, now: string): Override {
  return {
    tenantId: input.tenantId,
    feature: input.feature,
    value: input.value,
    reason: input.reason,
    actor,
    expiresAt: input.expiresAt,
    createdAt: before?.createdAt ?? now,
    updatedAt: now,
    version: (before?.version ?? 0) + 1,
  };
}

export function checkCondition(what: string, current: { version: number } | undefined, condition: WriteCondition | undefined): void {
  if (condition?.ifVersion === undefined) return;
  if ((current?.version ?? 0) !== condition.ifVersion) throw new VersionConflictError(what);
}

export class SqliteOverrides implements OverrideRepository {
  readonly #one;
  readonly #tenantExists;
  readonly #upsert;
  readonly #delete;

  constructor(private readonly ctx: SqliteContext) {
    const { db } = ctx;
    this.#one = db.prepare('SELECT * FROM overrides WHERE tenant_id = ? AND feature = ?');
    this.#tenantExists = db.prepare('SELECT 1 FROM tenants WHERE id = ?');
    this.#upsert = db.prepare(`INSERT INTO overrides (tenant_id, feature, value, reason, actor, expires_at, created_at, updated_at, version)
      VALUES (@tenantId, @feature, @value, @reason, @actor, @expiresAt, @createdAt, @updatedAt, @version)
      ON CONFLICT (tenant_id, feature) DO UPDATE SET value = excluded.value, reason = excluded.reason, actor = excluded.actor,
        expires_at = excluded.expires_at, updated_at = excluded.updated_at, version = excluded.version`);
    this.#delete = db.prepare('DELETE FROM overrides WHERE tenant_id = ? AND feature = ?');
  }

  #find(tenantId: string, feature: string): Override | undefined {
    const row = this.#one.get(tenantId, feature) as OverrideRow | undefined;
    return row ? overrideFromRow(row) : undefined;
  }

  set(input: OverrideInput, context: WriteContext, condition?: WriteCondition): Promise<{ before: Override | undefined; after: Override }> {
    return this.ctx.write(() => {
      if (!this.#tenantExists.get(input.tenantId)) throw new TenantNotFoundError(input.tenantId);
      const before = this.#find(input.tenantId, input.feature);
      checkCondition(`The override of "${input.feature}" for tenant "${input.tenantId}"`, before, condition);
      const after = overrideAfterSet(input, before, context.actor, this.ctx.nowIso());
      this.#upsert.run({ ...after, value: JSON.stringify(after.value) });
      this.ctx.appendAudit(auditEvents.overrideSet(context, input.tenantId, input.feature, before, after));
      return { before, after };
    });
  }

  async get(tenantId: string, feature: string): Promise<Override | undefined> {
    return this.#find(tenantId, feature);
  }

  async list(filter: { tenantId?: string; feature?: string } = {}): Promise<readonly Override[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.tenantId !== undefined) {
      where.push('tenant_id = ?');
      params.push(filter.tenantId);
    }
    if (filter.feature !== undefined) {
      where.push('feature = ?');
      params.push(filter.feature);
    }
    const sql = `SELECT * FROM overrides ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY tenant_id, feature`;
    return (this.ctx.db.prepare(sql).all(...params) as OverrideRow[]).map(overrideFromRow);
  }

  clear(tenantId: string, feature: string, context: WriteContext & { reason?: string }, condition?: WriteCondition): Promise<Override> {
    return this.ctx.write(() => {
      const before = this.#find(tenantId, feature);
      if (!before) throw new OverrideNotFoundError(tenantId, feature);
      checkCondition(`The override of "${feature}" for tenant "${tenantId}"`, before, condition);
      this.#delete.run(tenantId, feature);
      this.ctx.appendAudit(auditEvents.overrideCleared(context, tenantId, feature, before));
      return before;
    });
  }
}
