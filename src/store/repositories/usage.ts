// Usage of meters, written once over the SQL port for both dialects. The rule that keeps a meter
// from being over-consumed lives in single conditional statements: a counter row per tenant,
// feature and period, raised only `WHERE used + reserved + n <= limit`. Concurrent requests,
// CLI processes and server instances all meet at that row, and the database serializes them.
//
// A counter row holds, for one period: `used` (units taken from the period's allowance),
// `from_grants` (units taken from top-ups), `reserved` (units held by reservations not yet
// committed or released: an upper bound, as expired reservations are only reclaimed when they
// stand in the way) and `alerted` (the highest threshold, 80 or 100, already reported).
// Past periods' rows are kept: a new period is a new row, created on its first write.

import { randomUUID } from 'node:crypto';
import { auditEvents } from '../audit-events.js';
import type { SqlExecutor, SqlRow } from '../sql-port.js';
import type { WriteContext } from '../store.js';
import type { StoreContext } from './store-context.js';

/** One meter of one tenant in one period. */
export interface MeterKey {
  readonly tenantId: string;
  readonly feature: string;
  /** ISO start of the period (see usage/period.ts). */
  readonly periodStart: string;
}

/** A counter as stored: units from the allowance, from grants, and held by reservations. */
export interface MeterCounter {
  readonly used: number;
  readonly fromGrants: number;
  readonly reserved: number;
}

/** Units consumed, by where they came from: the period's allowance first, then grants soonest-expiring first. */
export interface UsageSources {
  readonly allowance: number;
  readonly grants: readonly { readonly id: string; readonly amount: number }[];
}

/** A top-up: extra units an operator granted, used after the period's allowance. */
export interface UsageGrant {
  readonly id: string;
  readonly tenantId: string;
  readonly feature: string;
  readonly amount: number;
  readonly remaining: number;
  readonly reason: string;
  readonly actor: string;
  /** ISO 8601; null for a grant that never expires. */
  readonly expiresAt: string | null;
  readonly createdAt: string;
}

export interface UsageReservation {
  readonly id: string;
  readonly tenantId: string;
  readonly feature: string;
  readonly periodStart: string;
  readonly amount: number;
  readonly expiresAt: string;
  readonly createdAt: string;
}

/** The first answer to an idempotent request, kept for 24 hours. */
export interface StoredAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** An idempotency key with the hash of the request that first used it. */
export interface IdempotencyClaim {
  readonly key: string;
  readonly requestHash: string;
  /** ISO 8601: after this the key may be used again. */
  readonly expiresAt: string;
}

/** What an idempotent write finds: its own earlier answer, a conflict, or nothing (it runs). */
export type IdempotentOutcome<T> =
  | { readonly kind: 'fresh'; readonly result: T; readonly answer: StoredAnswer }
  | { readonly kind: 'replayed'; readonly answer: StoredAnswer }
  | { readonly kind: 'conflict' };

/** The result of a consume: granted with its sources, or refused with the counter as it stands. */
export type ConsumeOutcome =
  | {
      readonly granted: true;
      readonly counter: MeterCounter;
      readonly sources: UsageSources;
      readonly crossed: readonly Threshold[];
      /** Units left in unexpired grants, when the consume read it with its write (then `counter.reserved` counts open reservations only). */
      readonly grantBalance?: number;
    }
  | { readonly granted: false; readonly counter: MeterCounter };

/** A consume that was granted. */
export type GrantedConsume = Extract<ConsumeOutcome, { readonly granted: true }>;

/** Shares of the allowance whose first crossing in a period is reported. */
export type Threshold = 80 | 100;

export interface ConsumeRequest {
  readonly meter: MeterKey;
  readonly amount: number;
  /** The period's allowance; null for unlimited. */
  readonly limit: number | null;
  /** ISO 8601 now: decides which grants and reservations have expired. */
  readonly now: string;
  /** Who consumes, for the audit rows of threshold crossings. */
  readonly context: WriteContext;
}

/** How a reservation's end gives units back. */
export type ReservationEnd =
  | { readonly kind: 'done'; readonly reservation: UsageReservation; readonly outcome: ConsumeOutcome | undefined }
  | { readonly kind: 'missing' }
  | { readonly kind: 'expired'; readonly reservation: UsageReservation };

const ZERO: MeterCounter = Object.freeze({ used: 0, fromGrants: 0, reserved: 0 });

const COUNTER_COLUMNS = 'used, from_grants, reserved, alerted';

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

/**
 * Usage writes change nothing a cache holds: the after-write hooks (tenant re-read, token cache)
 * are not run for them. {@link UsageStore.announce} is the one write that runs them, on purpose.
 */
const NO_HOOKS = { hooks: false } as const;

/** The usage of meters: counters per period, grants, reservations and idempotent answers. */
export class UsageStore {
  constructor(private readonly ctx: StoreContext) {}

  /** One write transaction for usage (see {@link SqlPort.write}). */
  write<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.ctx.write(work, NO_HOOKS);
  }

  /**
   * Consumes `amount` if the allowance (then unexpired grants) covers it, atomically. The common
   * case is one statement outside any transaction; the first write of a period, a consume that
   * needs grants or expired reservations reclaimed, takes a write transaction.
   */
  async consume(request: ConsumeRequest): Promise<ConsumeOutcome> {
    const { port } = this.ctx;
    const { meter } = request;
    // Bounded: the second round finds the row the first created.
    for (let round = 0; round < 2; round++) {
      const fast = await this.#consumeFromAllowance(port, request);
      if (fast) {
        if (fast.crossed.length === 0) return fast;
        // A threshold may have been crossed (rare): marked and audited together, in one transaction.
        const crossed = await this.write((tx) => this.#reportCrossings(tx, request, fast.crossed, fast.counter));
        return { ...fast, crossed };
      }
      const row = await port.get(
        `SELECT ${COUNTER_COLUMNS} FROM usage_counters WHERE tenant_id = $1 AND feature = $2 AND period_start = $3`,
        [meter.tenantId, meter.feature, meter.periodStart],
      );
      if (!row) {
        // The period's first write: its row, then the one-statement consume again (no job starts a period).
        await port.run(INSERT_COUNTER, [meter.tenantId, meter.feature, meter.periodStart, request.now]);
        continue;
      }
      // Refused by the allowance, with nothing that could still cover it (no open reservation
      // to reclaim, no grant): refused without taking the write lock.
      if (Number(row.reserved) === 0 && !(await this.#hasUsableGrant(port, meter, request.now)))
        return { granted: false, counter: counterOf(row) };
      break;
    }
    return this.write((tx) => this.consumeIn(tx, request));
  }

  /** {@link consume} inside a transaction the caller holds (an idempotent request records its answer in it). */
  async consumeIn(tx: SqlExecutor, request: ConsumeRequest): Promise<ConsumeOutcome> {
    const { meter, amount, limit, now } = request;
    const row = await this.#lock(tx, meter, now);
    let counter = counterOf(row);
    if (limit === null || counter.used + counter.reserved + amount <= limit) {
      const fast = await this.#consumeFromAllowance(tx, request);
      if (fast) return { ...fast, crossed: await this.#reportCrossings(tx, request, fast.crossed, fast.counter) };
    }
    // Expired reservations only count until they stand in the way: reclaimed here, lazily.
    if (counter.reserved > 0) counter = await this.#reclaimReservations(tx, meter, now);
    const allowanceFree = limit === null ? amount : Math.max(0, limit - counter.used - counter.reserved);
    const fromAllowance = Math.min(amount, allowanceFree);
    let needed = amount - fromAllowance;
    const takes: { id: string; amount: number }[] = [];
    if (needed > 0) {
      for (const grant of await this.#usableGrants(tx, meter, now)) {
        if (needed === 0) break;
        const take = Math.min(needed, grant.remaining);
        takes.push({ id: grant.id, amount: take });
        needed -= take;
      }
    }
    if (needed > 0) return { granted: false, counter };
    for (const take of takes) {
      await tx.run('UPDATE usage_grants SET remaining = remaining - $1 WHERE id = $2', [take.amount, take.id]);
    }
    const fromGrants = amount - fromAllowance;
    const updated = await tx.get(
      `UPDATE usage_counters SET used = used + $1, from_grants = from_grants + $2, updated_at = $3
        WHERE tenant_id = $4 AND feature = $5 AND period_start = $6 RETURNING ${COUNTER_COLUMNS}`,
      [fromAllowance, fromGrants, now, meter.tenantId, meter.feature, meter.periodStart],
    );
    const after = counterOf(updated);
    const candidates = limit === null ? [] : thresholdsCrossed(limit, counter.used, after.used);
    const crossed = await this.#reportCrossings(tx, request, candidates, after);
    return { granted: true, counter: after, sources: { allowance: fromAllowance, grants: takes }, crossed };
  }

  /**
   * Gives back what a consume took, to where it came from: the allowance (floored at 0) and
   * each grant. Used when a gated handler fails and for the unused rest of a reservation.
   */
  async giveBack(meter: MeterKey, sources: UsageSources, now: string): Promise<MeterCounter> {
    return this.write(async (tx) => this.giveBackIn(tx, meter, sources, now));
  }

  async giveBackIn(tx: SqlExecutor, meter: MeterKey, sources: UsageSources, now: string): Promise<MeterCounter> {
    const fromGrants = sources.grants.reduce((sum, take) => sum + take.amount, 0);
    for (const take of sources.grants) {
      await tx.run('UPDATE usage_grants SET remaining = remaining + $1 WHERE id = $2', [take.amount, take.id]);
    }
    const row = await tx.get(
      `UPDATE usage_counters SET used = CASE WHEN used > $1 THEN used - $1 ELSE 0 END,
          from_grants = CASE WHEN from_grants > $2 THEN from_grants - $2 ELSE 0 END, updated_at = $3
        WHERE tenant_id = $4 AND feature = $5 AND period_start = $6 RETURNING ${COUNTER_COLUMNS}`,
      [sources.allowance, fromGrants, now, meter.tenantId, meter.feature, meter.periodStart],
    );
    return row ? counterOf(row) : ZERO;
  }

  /**
   * A refund: lowers the period's usage by `amount`, never below 0 (allowance units first, then
   * units counted from grants). Refunded units become allowance again; grants are not refilled.
   */
  async refundIn(tx: SqlExecutor, meter: MeterKey, amount: number, now: string): Promise<MeterCounter> {
    const row = await tx.get(
      `UPDATE usage_counters SET
          from_grants = CASE WHEN $1 <= used THEN from_grants WHEN $1 - used >= from_grants THEN 0 ELSE from_grants - ($1 - used) END,
          used = CASE WHEN used > $1 THEN used - $1 ELSE 0 END, updated_at = $2
        WHERE tenant_id = $3 AND feature = $4 AND period_start = $5 RETURNING ${COUNTER_COLUMNS}`,
      [amount, now, meter.tenantId, meter.feature, meter.periodStart],
    );
    return row ? counterOf(row) : ZERO;
  }

  /** Holds `amount` until `expiresAt` if the allowance (then grants) covers it; undefined when it does not. */
  async reserveIn(
    tx: SqlExecutor,
    request: ConsumeRequest & { readonly expiresAt: string },
  ): Promise<{ reservation: UsageReservation; counter: MeterCounter } | undefined> {
    const { meter, amount, limit, now } = request;
    const row = await this.#lock(tx, meter, now);
    let counter = counterOf(row);
    if (limit !== null && counter.used + counter.reserved + amount > limit) {
      if (counter.reserved > 0) counter = await this.#reclaimReservations(tx, meter, now);
      const allowanceFree = Math.max(0, limit - counter.used - counter.reserved);
      // Reservations beyond the allowance are held against grants: they may not exceed the grants' balance.
      const overAllowance = Math.max(0, counter.used + counter.reserved - limit);
      const balance = (await this.#usableGrants(tx, meter, now)).reduce((sum, grant) => sum + grant.remaining, 0);
      if (amount > allowanceFree + Math.max(0, balance - overAllowance)) return undefined;
    }
    const reservation: UsageReservation = {
      id: `rsv_${randomUUID()}`,
      tenantId: meter.tenantId,
      feature: meter.feature,
      periodStart: meter.periodStart,
      amount,
      expiresAt: request.expiresAt,
      createdAt: now,
    };
    await tx.run(
      `INSERT INTO usage_reservations (id, tenant_id, feature, period_start, amount, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [reservation.id, meter.tenantId, meter.feature, meter.periodStart, amount, reservation.expiresAt, now],
    );
    const updated = await tx.get(
      `UPDATE usage_counters SET reserved = reserved + $1, updated_at = $2 WHERE tenant_id = $3 AND feature = $4 AND period_start = $5 RETURNING ${COUNTER_COLUMNS}`,
      [amount, now, meter.tenantId, meter.feature, meter.periodStart],
    );
    return { reservation, counter: counterOf(updated) };
  }

  /**
   * Ends a reservation of the tenant: `commit` consumes `amount` (at most what was held; the
   * rest goes back), `release` gives it all back. An expired reservation has already given its
   * units back and can no longer be committed.
   */
  async endReservationIn(
    tx: SqlExecutor,
    tenantId: string,
    id: string,
    end: {
      readonly commit?: number;
      readonly limit: number | null;
      readonly now: string;
      readonly context: WriteContext;
    },
  ): Promise<ReservationEnd> {
    const row = await tx.get('SELECT * FROM usage_reservations WHERE id = $1 AND tenant_id = $2', [id, tenantId]);
    if (!row) return { kind: 'missing' };
    const reservation = reservationOf(row);
    const meter: MeterKey = { tenantId, feature: reservation.feature, periodStart: reservation.periodStart };
    await tx.run('DELETE FROM usage_reservations WHERE id = $1', [id]);
    // An expired reservation no longer counts (a consume that needs its units recounts `reserved` without it).
    if (reservation.expiresAt <= end.now) return { kind: 'expired', reservation };
    await this.#lock(tx, meter, end.now);
    await tx.run(
      `UPDATE usage_counters SET reserved = CASE WHEN reserved > $1 THEN reserved - $1 ELSE 0 END WHERE tenant_id = $2 AND feature = $3 AND period_start = $4`,
      [reservation.amount, tenantId, reservation.feature, reservation.periodStart],
    );
    if (end.commit === undefined || end.commit === 0) return { kind: 'done', reservation, outcome: undefined };
    // The units were held for this commit: it consumes from the allowance, then grants, and
    // whatever neither covers any more (a grant expired meanwhile) still counts in the period.
    const outcome = await this.consumeIn(tx, {
      meter,
      amount: end.commit,
      limit: end.limit,
      now: end.now,
      context: end.context,
    });
    if (outcome.granted) return { kind: 'done', reservation, outcome };
    const forced = await tx.get(
      `UPDATE usage_counters SET used = used + $1, updated_at = $2 WHERE tenant_id = $3 AND feature = $4 AND period_start = $5 RETURNING ${COUNTER_COLUMNS}`,
      [end.commit, end.now, tenantId, reservation.feature, reservation.periodStart],
    );
    return {
      kind: 'done',
      reservation,
      outcome: {
        granted: true,
        counter: counterOf(forced),
        sources: { allowance: end.commit, grants: [] },
        crossed: [],
      },
    };
  }

  /** The counter of one period, with expired reservations not counted. */
  async counter(meter: MeterKey, now: string, tx: SqlExecutor = this.ctx.port): Promise<MeterCounter> {
    return (await this.reading(meter, now, tx)).counter;
  }

  /**
   * What a read of the meter shows, in one statement: the period's counter (expired
   * reservations not counted; zero before the period's first write) and the balance of the
   * grants still usable ({@link GRANT_BALANCE}: `$2` now, `$3`, `$4` the tenant and feature).
   */
  async reading(
    meter: MeterKey,
    now: string,
    tx: SqlExecutor = this.ctx.port,
  ): Promise<{ counter: MeterCounter; grantBalance: number }> {
    const counter = 'FROM usage_counters c WHERE c.tenant_id = $3 AND c.feature = $4 AND c.period_start = $1';
    const row = await tx.get(
      `SELECT (SELECT c.used ${counter}) AS used, (SELECT c.from_grants ${counter}) AS from_grants,
          (SELECT COALESCE(SUM(r.amount), 0) FROM usage_reservations r
            WHERE r.tenant_id = $3 AND r.feature = $4 AND r.period_start = $1 AND r.expires_at > $2) AS reserved,
          ${GRANT_BALANCE}`,
      [meter.periodStart, now, meter.tenantId, meter.feature],
    );
    return { counter: counterOf(row), grantBalance: Number(row?.grant_balance ?? 0) };
  }

  /** Every period's counter of a tenant (past periods are kept for reports), newest first. */
  async history(
    tenantId: string,
    feature?: string,
  ): Promise<{ feature: string; periodStart: string; used: number; fromGrants: number }[]> {
    const rows = await this.ctx.port.all(
      `SELECT feature, period_start, used, from_grants FROM usage_counters WHERE tenant_id = $1 ${feature === undefined ? '' : 'AND feature = $2'}
        ORDER BY feature ${this.ctx.port.sql.byteOrder}, period_start DESC`,
      feature === undefined ? [tenantId] : [tenantId, feature],
    );
    return rows.map((row) => ({
      feature: String(row.feature),
      periodStart: String(row.period_start),
      used: Number(row.used),
      fromGrants: Number(row.from_grants),
    }));
  }

  /** Adds a top-up, audited with it. */
  async grant(
    input: { tenantId: string; feature: string; amount: number; reason: string; expiresAt: string | null },
    context: WriteContext,
  ): Promise<UsageGrant> {
    return this.write(async (tx) => {
      const grant = await this.#insertGrant(tx, { ...input, actor: context.actor, now: this.ctx.nowIso() });
      await this.ctx.appendAudit(tx, [auditEvents.usageGranted(context, grant)]);
      return grant;
    });
  }

  async #insertGrant(
    tx: SqlExecutor,
    input: {
      tenantId: string;
      feature: string;
      amount: number;
      reason: string;
      actor: string;
      expiresAt: string | null;
      now: string;
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
  async grants(tenantId: string, feature: string, now: string, tx: SqlExecutor = this.ctx.port): Promise<UsageGrant[]> {
    return this.#usableGrants(tx, { tenantId, feature, periodStart: '' }, now);
  }

  /** Sets a period's usage back to zero (an operator's reset), audited; returns the counter before. */
  async reset(meter: MeterKey, context: WriteContext): Promise<MeterCounter> {
    return this.write(async (tx) => {
      const now = this.ctx.nowIso();
      const before = await this.counter(meter, now, tx);
      await tx.run(
        `UPDATE usage_counters SET used = 0, from_grants = 0, alerted = 0, updated_at = $1 WHERE tenant_id = $2 AND feature = $3 AND period_start = $4`,
        [now, meter.tenantId, meter.feature, meter.periodStart],
      );
      await this.ctx.appendAudit(tx, [auditEvents.usageReset(context, meter, before)]);
      return before;
    });
  }

  /**
   * Puts the tenant in the change feed although no tenant row changed: a meter of it ran out or
   * got units back, so its evaluations flip. Every process that follows the feed (this one
   * through the after-write hooks, others through polling or NOTIFY) re-reads the tenant and
   * tells its listeners, OFREP event streams among them. The no-op update fires the tenants
   * table's change trigger, which both dialects have: a row in `changes` and, on PostgreSQL, the
   * NOTIFY.
   */
  async announce(tenantId: string): Promise<void> {
    await this.ctx.write((tx) => tx.run('UPDATE tenants SET updated_at = updated_at WHERE id = $1', [tenantId]));
  }

  /**
   * Runs `work` once per idempotency key and tenant: a repeated key with the same request hash
   * gets the first answer, with another hash a conflict. The answer is stored in the same
   * transaction as the work, so a process killed after the commit still answers a retry.
   */
  async idempotent<T>(
    tenantId: string,
    claim: IdempotencyClaim,
    now: string,
    work: (tx: SqlExecutor) => Promise<{ result: T; answer: StoredAnswer }>,
  ): Promise<IdempotentOutcome<T>> {
    return this.write(async (tx) => {
      const seen = await tx.get(
        'SELECT request_hash, status, answer FROM usage_idempotency WHERE tenant_id = $1 AND key = $2 AND expires_at > $3',
        [tenantId, claim.key, now],
      );
      if (seen) {
        if (seen.request_hash !== claim.requestHash) return { kind: 'conflict' } as const;
        return {
          kind: 'replayed',
          answer: { status: Number(seen.status), body: JSON.parse(String(seen.answer)) as unknown },
        } as const;
      }
      const { result, answer } = await work(tx);
      await tx.run(
        `INSERT INTO usage_idempotency (tenant_id, key, request_hash, status, answer, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
          ON CONFLICT (tenant_id, key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status, answer = excluded.answer,
            created_at = excluded.created_at, expires_at = excluded.expires_at`,
        [tenantId, claim.key, claim.requestHash, answer.status, JSON.stringify(answer.body), now, claim.expiresAt],
      );
      return { kind: 'fresh', result, answer } as const;
    });
  }

  /**
   * Deletes idempotency records and reservations that have expired; returns how many. An
   * expired reservation already stopped counting; a counter's `reserved` may still include it
   * (an upper bound) until a consume that needs the units recounts it from the open ones.
   */
  async purgeExpired(now: string): Promise<number> {
    return this.write(async (tx) => {
      const answers = await tx.run('DELETE FROM usage_idempotency WHERE expires_at <= $1', [now]);
      const reservations = await tx.run('DELETE FROM usage_reservations WHERE expires_at <= $1', [now]);
      return answers.changes + reservations.changes;
    });
  }

  /** Where the database itself checks and counts: one statement, no transaction needed. */
  async #consumeFromAllowance(
    executor: SqlExecutor,
    { meter, amount, limit, now }: ConsumeRequest,
  ): Promise<GrantedConsume | undefined> {
    const params = [amount, now, meter.tenantId, meter.feature, meter.periodStart];
    // The answer's figures come back with the write: open reservations and the grants' balance
    // as subqueries of RETURNING, so a granted consume is one round trip.
    const returning = `RETURNING ${COUNTER_COLUMNS}, ${OPEN_RESERVED}, ${GRANT_BALANCE}`;
    const row =
      limit === null
        ? await executor.get(
            `UPDATE usage_counters SET used = used + $1, updated_at = $2 WHERE tenant_id = $3 AND feature = $4 AND period_start = $5 ${returning}`,
            params,
          )
        : await executor.get(
            `UPDATE usage_counters SET used = used + $1, updated_at = $2
              WHERE tenant_id = $3 AND feature = $4 AND period_start = $5 AND used + reserved + $1 <= $6 ${returning}`,
            [...params, limit],
          );
    if (!row) return undefined;
    const counter = {
      used: Number(row.used),
      fromGrants: Number(row.from_grants),
      reserved: Number(row.open_reserved),
    };
    const crossed =
      limit === null
        ? []
        : thresholdsCrossed(limit, counter.used - amount, counter.used).filter(
            (threshold) => Number(row.alerted) < threshold,
          );
    return {
      granted: true,
      counter,
      sources: { allowance: amount, grants: [] },
      crossed,
      grantBalance: Number(row.grant_balance),
    };
  }

  /**
   * Creates the period's counter if this is its first write (the lazy rollover: no job starts a
   * period) and locks it for the transaction, returning it as it stands.
   */
  async #lock(tx: SqlExecutor, meter: MeterKey, now: string): Promise<SqlRow> {
    await tx.run(INSERT_COUNTER, [meter.tenantId, meter.feature, meter.periodStart, now]);
    // An update that changes nothing still takes the row lock (PostgreSQL) and returns the row as committed.
    const row = await tx.get(
      `UPDATE usage_counters SET updated_at = updated_at WHERE tenant_id = $1 AND feature = $2 AND period_start = $3 RETURNING ${COUNTER_COLUMNS}`,
      [meter.tenantId, meter.feature, meter.periodStart],
    );
    if (!row) throw new Error('usage counter vanished inside its transaction');
    return row;
  }

  /** Recounts `reserved` from the reservations still open: expired ones stop counting here. */
  async #reclaimReservations(tx: SqlExecutor, meter: MeterKey, now: string): Promise<MeterCounter> {
    const row = await tx.get(
      `UPDATE usage_counters SET reserved = (SELECT COALESCE(SUM(r.amount), 0) FROM usage_reservations r
          WHERE r.tenant_id = $1 AND r.feature = $2 AND r.period_start = $3 AND r.expires_at > $4)
        WHERE tenant_id = $1 AND feature = $2 AND period_start = $3 RETURNING ${COUNTER_COLUMNS}`,
      [meter.tenantId, meter.feature, meter.periodStart, now],
    );
    return counterOf(row);
  }

  async #hasUsableGrant(executor: SqlExecutor, meter: MeterKey, now: string): Promise<boolean> {
    const row = await executor.get(
      'SELECT 1 AS found FROM usage_grants WHERE tenant_id = $1 AND feature = $2 AND remaining > 0 AND (expires_at IS NULL OR expires_at > $3) LIMIT 1',
      [meter.tenantId, meter.feature, now],
    );
    return row !== undefined;
  }

  async #usableGrants(tx: SqlExecutor, meter: MeterKey, now: string): Promise<UsageGrant[]> {
    const rows = await tx.all(
      `SELECT * FROM usage_grants WHERE tenant_id = $1 AND feature = $2 AND remaining > 0 AND (expires_at IS NULL OR expires_at > $3)
        ORDER BY CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, created_at, id`,
      [meter.tenantId, meter.feature, now],
    );
    return rows.map(grantOf);
  }

  /**
   * Marks and audits the thresholds a consume crossed, if no writer reported them first: the
   * mark is conditional (`alerted < threshold`), so each is audited once per period even when
   * writers race.
   */
  async #reportCrossings(
    tx: SqlExecutor,
    request: ConsumeRequest,
    candidates: readonly Threshold[],
    counter: MeterCounter,
  ): Promise<Threshold[]> {
    const highest = candidates.at(-1);
    if (highest === undefined || request.limit === null) return [];
    const { meter } = request;
    const marked = await tx.run(
      'UPDATE usage_counters SET alerted = $1 WHERE tenant_id = $2 AND feature = $3 AND period_start = $4 AND alerted < $1',
      [highest, meter.tenantId, meter.feature, meter.periodStart],
    );
    if (marked.changes !== 1) return [];
    const crossed = [...candidates];
    await this.ctx.appendAudit(
      tx,
      crossed.map((threshold) =>
        auditEvents.usageThreshold(request.context, meter, {
          threshold,
          limit: request.limit as number,
          used: counter.used,
        }),
      ),
    );
    return crossed;
  }
}

/** The thresholds (80 %, 100 % of the allowance) that usage passed going from `was` to `is`. */
export function thresholdsCrossed(limit: number, was: number, is: number): Threshold[] {
  if (limit <= 0) return [];
  return ([80, 100] as const).filter((threshold) => {
    const mark = Math.ceil((limit * threshold) / 100);
    return was < mark && is >= mark;
  });
}

function counterOf(row: SqlRow | undefined): MeterCounter {
  if (!row) return ZERO;
  return { used: Number(row.used), fromGrants: Number(row.from_grants), reserved: Number(row.reserved) };
}

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

function reservationOf(row: SqlRow): UsageReservation {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    feature: String(row.feature),
    periodStart: String(row.period_start),
    amount: Number(row.amount),
    expiresAt: String(row.expires_at),
    createdAt: String(row.created_at),
  };
}
