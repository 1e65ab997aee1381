// The usage_grants table: top-ups an operator granted, used after a period's allowance,
// soonest-expiring first. A grant's `remaining` only goes down by a consume and back up by the
// give-back or refund of that consume.

import { randomUUID } from 'node:crypto';
import type { SqlExecutor, SqlRow } from '../sql-port.js';
import type { MeterKey, UsageGrant, UsageSources } from '../usage-repository.js';

const USABLE = 'tenant_id = $1 AND feature = $2 AND remaining > 0 AND (expires_at IS NULL OR expires_at > $3)';

function grantOf(row: SqlRow): UsageGrant {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    feature: String(row.feature),
    amount: Number(row.amount),
    remaining: Number(row.remaining),
    reason: String(row.reason),
    actor: String(row.actor),
    expiresAt: row.expires_at === null ? null : String(row.expires_at),
    createdAt: String(row.created_at),
  };
}

export async function insertGrant(
  tx: SqlExecutor,
  input: {
    readonly tenantId: string;
    readonly feature: string;
    readonly amount: number;
    readonly reason: string;
    readonly actor: string;
    readonly expiresAt: string | null;
    readonly now: string;
  },
): Promise<UsageGrant> {
  const grant: UsageGrant = {
    id: `grt_${randomUUID()}`,
    tenantId: input.tenantId,
    feature: input.feature,
    amount: input.amount,
    remaining: input.amount,
    reason: input.reason,
    actor: input.actor,
    expiresAt: input.expiresAt,
    createdAt: input.now,
  };
  await tx.run(
    `INSERT INTO usage_grants (id, tenant_id, feature, amount, remaining, reason, actor, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      grant.id,
      grant.tenantId,
      grant.feature,
      grant.amount,
      grant.remaining,
      grant.reason,
      grant.actor,
      grant.expiresAt,
      grant.createdAt,
    ],
  );
  return grant;
}

/** Unexpired grants with units left, soonest-expiring first (never-expiring last). */
export async function usableGrants(
  db: SqlExecutor,
  meter: Pick<MeterKey, 'tenantId' | 'feature'>,
  now: string,
): Promise<UsageGrant[]> {
  const rows = await db.all(
    `SELECT * FROM usage_grants WHERE ${USABLE}
      ORDER BY CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, created_at, id`,
    [meter.tenantId, meter.feature, now],
  );
  return rows.map(grantOf);
}

export async function hasUsableGrant(db: SqlExecutor, meter: MeterKey, now: string): Promise<boolean> {
  const row = await db.get(`SELECT 1 AS found FROM usage_grants WHERE ${USABLE} LIMIT 1`, [
    meter.tenantId,
    meter.feature,
    now,
  ]);
  return row !== undefined;
}

/** Takes units from grants (the caller chose them under the counter's lock). */
export async function takeFromGrants(tx: SqlExecutor, takes: UsageSources['grants']): Promise<void> {
  for (const take of takes)
    await tx.run('UPDATE usage_grants SET remaining = remaining - $1 WHERE id = $2', [take.amount, take.id]);
}

/** Gives units back to the grants they were taken from (a grant deleted since is skipped). */
export async function returnToGrants(tx: SqlExecutor, takes: UsageSources['grants']): Promise<void> {
  for (const take of takes)
    await tx.run('UPDATE usage_grants SET remaining = remaining + $1 WHERE id = $2', [take.amount, take.id]);
}
