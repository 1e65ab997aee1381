// Per-tenant overrides, with optimistic concurrency on their version.

import { auditEvents } from '../audit-events.js';
import { OverrideNotFoundError, VersionConflictError } from '../../errors.js';
import type { SqlExecutor, SqlValue } from '../sql-port.js';
import type { Override, OverrideInput, OverrideRepository, WriteCondition, WriteContext } from '../store.js';
import { overrideFromRow, type OverrideRow } from './rows.js';
import type { StoreContext } from './store-context.js';
import { requireTenant } from './tenants.js';

/** The override a set leaves: a new version, the first creation time kept. */
export function overrideAfterSet(
  input: OverrideInput,
  before: Override | undefined,
  actor: string,
  now: string,
): Override {
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

/** Throws VersionConflictError when the condition names another version than the current one (0: absent). */
export function checkCondition(
  what: string,
  current: { version: number } | undefined,
  condition: WriteCondition | undefined,
): void {
  if (condition?.ifVersion === undefined) return;
  if ((current?.version ?? 0) !== condition.ifVersion) throw new VersionConflictError(what);
}

async function findOverride(db: SqlExecutor, tenantId: string, feature: string): Promise<Override | undefined> {
  const row = await db.get<OverrideRow>('SELECT * FROM overrides WHERE tenant_id = $1 AND feature = $2', [
    tenantId,
    feature,
  ]);
  return row ? overrideFromRow(row) : undefined;
}

const UPSERT = `INSERT INTO overrides (tenant_id, feature, value, reason, actor, expires_at, created_at, updated_at, version)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
  ON CONFLICT (tenant_id, feature) DO UPDATE SET value = excluded.value, reason = excluded.reason, actor = excluded.actor,
    expires_at = excluded.expires_at, updated_at = excluded.updated_at, version = excluded.version`;

export class OverrideStore implements OverrideRepository {
  constructor(private readonly ctx: StoreContext) {}

  set(
    input: OverrideInput,
    context: WriteContext,
    condition?: WriteCondition,
  ): Promise<{ before: Override | undefined; after: Override }> {
    return this.ctx.write(async (tx) => {
      await requireTenant(tx, input.tenantId);
      const before = await findOverride(tx, input.tenantId, input.feature);
      checkCondition(`The override of "${input.feature}" for tenant "${input.tenantId}"`, before, condition);
      const after = overrideAfterSet(input, before, context.actor, this.ctx.nowIso());
      await tx.run(UPSERT, [
        after.tenantId,
        after.feature,
        JSON.stringify(after.value),
        after.reason,
        after.actor,
        after.expiresAt,
        after.createdAt,
        after.updatedAt,
        after.version,
      ]);
      await this.ctx.appendAudit(tx, [auditEvents.overrideSet(context, input.tenantId, input.feature, before, after)]);
      return { before, after };
    });
  }

  get(tenantId: string, feature: string): Promise<Override | undefined> {
    return findOverride(this.ctx.port, tenantId, feature);
  }

  async list(filter: { tenantId?: string; feature?: string } = {}): Promise<readonly Override[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.tenantId !== undefined) where.push(`tenant_id = $${params.push(filter.tenantId)}`);
    if (filter.feature !== undefined) where.push(`feature = $${params.push(filter.feature)}`);
    const { byteOrder } = this.ctx.port.sql;
    const sql = `SELECT * FROM overrides ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY tenant_id${byteOrder}, feature${byteOrder}`;
    return (await this.ctx.port.all<OverrideRow>(sql, params)).map(overrideFromRow);
  }

  clear(
    tenantId: string,
    feature: string,
    context: WriteContext & { reason?: string },
    condition?: WriteCondition,
  ): Promise<Override> {
    return this.ctx.write(async (tx) => {
      const before = await findOverride(tx, tenantId, feature);
      if (!before) throw new OverrideNotFoundError(tenantId, feature);
      checkCondition(`The override of "${feature}" for tenant "${tenantId}"`, before, condition);
      await tx.run('DELETE FROM overrides WHERE tenant_id = $1 AND feature = $2', [tenantId, feature]);
      await this.ctx.appendAudit(tx, [auditEvents.overrideCleared(context, tenantId, feature, before)]);
      return before;
    });
  }
}
