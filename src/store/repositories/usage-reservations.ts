// The usage_reservations table: units held for work that takes time. A reservation counts in
// its counter's `reserved` until it is committed, released or expires; an expired one stops
// counting by itself (readers only count unexpired rows) and is deleted by the purge.

import { randomUUID } from 'node:crypto';
import type { SqlExecutor, SqlRow } from '../sql-port.js';
import type { MeterKey, UsageReservation } from '../usage-repository.js';

function reservationOf(row: SqlRow): UsageReservation {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    feature: String(row.feature),
    periodStart: String(row.period_start),
    amount: Number(row.amount),
    holder: row.holder === null || row.holder === undefined ? null : String(row.holder),
    expiresAt: String(row.expires_at),
    createdAt: String(row.created_at),
  };
}

export async function insertReservation(
  tx: SqlExecutor,
  input: {
    readonly meter: MeterKey;
    readonly amount: number;
    readonly holder: string;
    readonly expiresAt: string;
    readonly now: string;
  },
): Promise<UsageReservation> {
  const reservation: UsageReservation = {
    id: `rsv_${randomUUID()}`,
    tenantId: input.meter.tenantId,
    feature: input.meter.feature,
    periodStart: input.meter.periodStart,
    amount: input.amount,
    holder: input.holder,
    expiresAt: input.expiresAt,
    createdAt: input.now,
  };
  await tx.run(
    `INSERT INTO usage_reservations (id, tenant_id, feature, period_start, amount, expires_at, created_at, holder)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      reservation.id,
      reservation.tenantId,
      reservation.feature,
      reservation.periodStart,
      reservation.amount,
      reservation.expiresAt,
      reservation.createdAt,
      reservation.holder,
    ],
  );
  return reservation;
}

/** Removes a reservation of the tenant and returns it (expired or not); undefined when there is none. */
export async function takeReservation(
  tx: SqlExecutor,
  tenantId: string,
  id: string,
  holder: string | undefined,
): Promise<UsageReservation | undefined> {
  const row =
    holder === undefined
      ? await tx.get('DELETE FROM usage_reservations WHERE id = $1 AND tenant_id = $2 RETURNING *', [id, tenantId])
      : await tx.get('DELETE FROM usage_reservations WHERE id = $1 AND tenant_id = $2 AND holder = $3 RETURNING *', [
          id,
          tenantId,
          holder,
        ]);
  return row ? reservationOf(row) : undefined;
}

/** A tenant's open reservations, oldest first. */
export async function openReservations(
  db: SqlExecutor,
  tenantId: string,
  now: string,
  feature?: string,
): Promise<UsageReservation[]> {
  const rows = await db.all(
    `SELECT * FROM usage_reservations WHERE tenant_id = $1 AND expires_at > $2 ${feature === undefined ? '' : 'AND feature = $3'}
      ORDER BY created_at, id`,
    feature === undefined ? [tenantId, now] : [tenantId, now, feature],
  );
  return rows.map(reservationOf);
}

/** Deletes every reservation of a meter's period (an operator's reset); returns the units the open ones held. */
export async function dropReservations(tx: SqlExecutor, meter: MeterKey, now: string): Promise<number> {
  const rows = await tx.all(
    'DELETE FROM usage_reservations WHERE tenant_id = $1 AND feature = $2 AND period_start = $3 RETURNING amount, expires_at',
    [meter.tenantId, meter.feature, meter.periodStart],
  );
  return rows.reduce((sum, row) => (String(row.expires_at) > now ? sum + Number(row.amount) : sum), 0);
}

export async function purgeReservations(tx: SqlExecutor, now: string): Promise<number> {
  return (await tx.run('DELETE FROM usage_reservations WHERE expires_at <= $1', [now])).changes;
}
