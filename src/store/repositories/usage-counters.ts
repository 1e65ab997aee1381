// The usage_counters table: one row per tenant, feature and period. The rule that keeps a meter
// from being over-consumed lives here, in single conditional statements: a counter is raised
// only `WHERE used + reserved + n <= limit`, so concurrent requests, CLI processes and server
// instances all meet at that row and the database serializes them.
//
// A row holds, for one period: `used` (units taken from the period's allowance), `from_grants`
// (units taken from top-ups), `reserved` (units held by reservations not yet committed or
// released: an upper bound, as expired reservations are only reclaimed when they stand in the
// way) and `alerted` (the highest threshold, 80 or 100, already reported). Past periods' rows
// are kept: a new period is a new row, created on its first write.

import type { SqlExecutor, SqlRow } from '../sql-port.js';
import type {
  ConsumeRequest,
  MeterCounter,
  MeterFigures,
  MeterKey,
  Threshold,
  UsagePeriodRecord,
  UsageSources,
} from '../usage-repository.js';

export const ZERO: MeterCounter = Object.freeze({ used: 0, fromGrants: 0, reserved: 0 });

const COLUMNS = 'used, from_grants, reserved, alerted';

/**
 * Units of open (unexpired) reservations of the counter's period; `$2` is now, `$3…$5` the meter.
 * A counter that holds nothing reserved (the usual case) skips the lookup.
 */
const OPEN_RESERVED = `CASE WHEN reserved = 0 THEN 0 ELSE (SELECT COALESCE(SUM(r.amount), 0) FROM usage_reservations r
  WHERE r.tenant_id = $3 AND r.feature = $4 AND r.period_start = $5 AND r.expires_at > $2) END AS open_reserved`;

/** Units left in unexpired grants of the meter; `$2` is now, `$3`, `$4` the tenant and feature. */
const GRANT_BALANCE = `(SELECT COALESCE(SUM(g.remaining), 0) FROM usage_grants g
  WHERE g.tenant_id = $3 AND g.feature = $4 AND g.remaining > 0 AND (g.expires_at IS NULL OR g.expires_at > $2)) AS grant_balance`;

/** A period's counter, created on its first write (a no-op when it exists). */
const INSERT_COUNTER = `INSERT INTO usage_counters (tenant_id, feature, period_start, used, from_grants, reserved, alerted, updated_at)
  VALUES ($1, $2, $3, 0, 0, 0, 0, $4) ON CONFLICT (tenant_id, feature, period_start) DO NOTHING`;

const METER = 'WHERE tenant_id = $1 AND feature = $2 AND period_start = $3';

export function counterOf(row: SqlRow | undefined): MeterCounter {
  if (!row) return ZERO;
  return { used: Number(row.used), fromGrants: Number(row.from_grants), reserved: Number(row.reserved) };
}

/** The thresholds (80 %, 100 % of the allowance) that usage passed going from `was` to `is`. */
export function thresholdsCrossed(limit: number, was: number, is: number): Threshold[] {
  if (limit <= 0) return [];
  return ([80, 100] as const).filter((threshold) => {
    const mark = Math.ceil((limit * threshold) / 100);
    return was < mark && is >= mark;
  });
}

/** The counter as stored (zero before the period's first write), `alerted` included. */
export async function findCounter(
  db: SqlExecutor,
  meter: MeterKey,
): Promise<(MeterCounter & { alerted: number }) | undefined> {
  const row = await db.get(`SELECT ${COLUMNS} FROM usage_counters ${METER}`, [
    meter.tenantId,
    meter.feature,
    meter.periodStart,
  ]);
  return row ? { ...counterOf(row), alerted: Number(row.alerted) } : undefined;
}

/** Creates the period's counter if this is its first write (the lazy rollover: no job starts a period). */
export async function createCounter(db: SqlExecutor, meter: MeterKey, now: string): Promise<void> {
  await db.run(INSERT_COUNTER, [meter.tenantId, meter.feature, meter.periodStart, now]);
}

/** Creates the counter if needed and locks it for the transaction, returning it as it stands. */
export async function lockCounter(tx: SqlExecutor, meter: MeterKey, now: string): Promise<MeterCounter> {
  await createCounter(tx, meter, now);
  // An update that changes nothing still takes the row lock (PostgreSQL) and returns the row as committed.
  const row = await tx.get(`UPDATE usage_counters SET updated_at = updated_at ${METER} RETURNING ${COLUMNS}`, [
    meter.tenantId,
    meter.feature,
    meter.periodStart,
  ]);
  if (!row) throw new Error('usage counter vanished inside its transaction');
  return counterOf(row);
}

/**
 * Where the database itself checks and counts: one statement, no transaction needed. Returns
 * the figures after the consume (open reservations and the grants' balance come back with the
 * write, as subqueries of RETURNING: a granted consume is one round trip) and the thresholds
 * not yet reported that it crossed; undefined when the allowance does not cover `amount`.
 */
export async function consumeFromAllowance(
  db: SqlExecutor,
  { meter, amount, limit, now }: ConsumeRequest,
): Promise<{ figures: MeterFigures; crossed: Threshold[] } | undefined> {
  const params = [amount, now, meter.tenantId, meter.feature, meter.periodStart];
  const returning = `RETURNING ${COLUMNS}, ${OPEN_RESERVED}, ${GRANT_BALANCE}`;
  const row =
    limit === null
      ? await db.get(
          `UPDATE usage_counters SET used = used + $1, updated_at = $2
            WHERE tenant_id = $3 AND feature = $4 AND period_start = $5 ${returning}`,
          params,
        )
      : await db.get(
          `UPDATE usage_counters SET used = used + $1, updated_at = $2
            WHERE tenant_id = $3 AND feature = $4 AND period_start = $5 AND used + reserved + $1 <= $6 ${returning}`,
          [...params, limit],
        );
  if (!row) return undefined;
  const counter = { used: Number(row.used), fromGrants: Number(row.from_grants), reserved: Number(row.open_reserved) };
  const crossed =
    limit === null
      ? []
      : thresholdsCrossed(limit, counter.used - amount, counter.used).filter(
          (threshold) => Number(row.alerted) < threshold,
        );
  return { figures: { counter, grantBalance: Number(row.grant_balance) }, crossed };
}

/** Counts units taken from the allowance and from grants (the checks were made by the caller, under the row lock). */
export async function addUsage(
  tx: SqlExecutor,
  meter: MeterKey,
  fromAllowance: number,
  fromGrants: number,
  now: string,
): Promise<MeterCounter> {
  const row = await tx.get(
    `UPDATE usage_counters SET used = used + $4, from_grants = from_grants + $5, updated_at = $6 ${METER} RETURNING ${COLUMNS}`,
    [meter.tenantId, meter.feature, meter.periodStart, fromAllowance, fromGrants, now],
  );
  return counterOf(row);
}

/** Lowers the counter by what `sources` name, never below 0. */
export async function removeUsage(tx: SqlExecutor, meter: MeterKey, sources: UsageSources, now: string): Promise<void> {
  const fromGrants = sources.grants.reduce((sum, take) => sum + take.amount, 0);
  await tx.run(
    `UPDATE usage_counters SET used = CASE WHEN used > $4 THEN used - $4 ELSE 0 END,
        from_grants = CASE WHEN from_grants > $5 THEN from_grants - $5 ELSE 0 END, updated_at = $6 ${METER}`,
    [meter.tenantId, meter.feature, meter.periodStart, sources.allowance, fromGrants, now],
  );
}

/** Raises (or, negative, lowers, never below 0) the units the counter holds reserved. */
export async function addReserved(tx: SqlExecutor, meter: MeterKey, amount: number, now: string): Promise<void> {
  await tx.run(
    `UPDATE usage_counters SET reserved = CASE WHEN reserved + $4 > 0 THEN reserved + $4 ELSE 0 END, updated_at = $5 ${METER}`,
    [meter.tenantId, meter.feature, meter.periodStart, amount, now],
  );
}

/** Recounts `reserved` from the reservations still open: expired ones stop counting here. */
export async function reclaimReservations(tx: SqlExecutor, meter: MeterKey, now: string): Promise<MeterCounter> {
  const row = await tx.get(
    `UPDATE usage_counters SET reserved = (SELECT COALESCE(SUM(r.amount), 0) FROM usage_reservations r
        WHERE r.tenant_id = $1 AND r.feature = $2 AND r.period_start = $3 AND r.expires_at > $4)
      ${METER} RETURNING ${COLUMNS}`,
    [meter.tenantId, meter.feature, meter.periodStart, now],
  );
  return counterOf(row);
}

/** Marks `threshold` reported for the period unless a writer did first; true when this call marked it. */
export async function markAlerted(tx: SqlExecutor, meter: MeterKey, threshold: Threshold): Promise<boolean> {
  const marked = await tx.run(`UPDATE usage_counters SET alerted = $4 ${METER} AND alerted < $4`, [
    meter.tenantId,
    meter.feature,
    meter.periodStart,
    threshold,
  ]);
  return marked.changes === 1;
}

/** Sets the period's usage back to zero, nothing reserved (its reservations were dropped), thresholds unreported. */
export async function zeroCounter(tx: SqlExecutor, meter: MeterKey, now: string): Promise<void> {
  await tx.run(
    `UPDATE usage_counters SET used = 0, from_grants = 0, reserved = 0, alerted = 0, updated_at = $4 ${METER}`,
    [meter.tenantId, meter.feature, meter.periodStart, now],
  );
}

/**
 * What a read of the meter shows, in one statement: the period's counter (expired
 * reservations not counted; zero before the period's first write) and the balance of the
 * grants still usable.
 */
export async function readFigures(db: SqlExecutor, meter: MeterKey, now: string): Promise<MeterFigures> {
  const counter = 'FROM usage_counters c WHERE c.tenant_id = $3 AND c.feature = $4 AND c.period_start = $1';
  const row = await db.get(
    `SELECT (SELECT c.used ${counter}) AS used, (SELECT c.from_grants ${counter}) AS from_grants,
        (SELECT COALESCE(SUM(r.amount), 0) FROM usage_reservations r
          WHERE r.tenant_id = $3 AND r.feature = $4 AND r.period_start = $1 AND r.expires_at > $2) AS reserved,
        ${GRANT_BALANCE}`,
    [meter.periodStart, now, meter.tenantId, meter.feature],
  );
  return { counter: counterOf(row), grantBalance: Number(row?.grant_balance ?? 0) };
}

/** Every period's counter of a tenant (past periods are kept for reports), newest first per feature. */
export async function counterHistory(
  db: SqlExecutor,
  byteOrder: string,
  tenantId: string,
  feature?: string,
): Promise<UsagePeriodRecord[]> {
  const rows = await db.all(
    `SELECT feature, period_start, used, from_grants FROM usage_counters WHERE tenant_id = $1 ${feature === undefined ? '' : 'AND feature = $2'}
      ORDER BY feature ${byteOrder}, period_start DESC`,
    feature === undefined ? [tenantId] : [tenantId, feature],
  );
  return rows.map((row) => ({
    feature: String(row.feature),
    periodStart: String(row.period_start),
    used: Number(row.used),
    fromGrants: Number(row.from_grants),
  }));
}
