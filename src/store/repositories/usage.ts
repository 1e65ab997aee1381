// Usage of meters, written once over the SQL port for both dialects: the repository that owns
// every usage transaction and its idempotency. The tables each have their module
// (usage-counters, usage-grants, usage-reservations, usage-outcomes); this one puts their
// statements together into writes.

import { auditEvents } from '../audit-events.js';
import {
  IdempotencyConflictError,
  InvalidInputError,
  ReservationExpiredError,
  ReservationNotFoundError,
  ConsumeNotFoundError,
  RefundConflictError,
} from '../../errors.js';
import type { SqlExecutor } from '../sql-port.js';
import type { WriteContext } from '../store.js';
import type {
  ConsumeOutcome,
  ConsumeRequest,
  EndReservationRequest,
  IdempotencyClaim,
  MeterCounter,
  MeterFigures,
  MeterKey,
  Recorded,
  RefundOutcome,
  RefundRequest,
  ReservationEnd,
  ReserveOutcome,
  ReserveRequest,
  Threshold,
  UsageGrant,
  UsagePeriodRecord,
  UsageRepository,
  UsageReservation,
  UsageSources,
} from '../usage-repository.js';
import {
  addReserved,
  addUsage,
  consumeFromAllowance,
  counterHistory,
  createCounter,
  findCounter,
  lockCounter,
  markAlerted,
  readFigures,
  reclaimReservations,
  removeUsage,
  thresholdsCrossed,
  zeroCounter,
} from './usage-counters.js';
import { hasUsableGrant, insertGrant, returnToGrants, takeFromGrants, usableGrants } from './usage-grants.js';
import { findConsume, findOutcome, markRefunded, purgeOutcomes, recordOutcome } from './usage-outcomes.js';
import {
  dropReservations,
  insertReservation,
  openReservations,
  purgeReservations,
  takeReservation,
} from './usage-reservations.js';
import type { StoreContext } from './store-context.js';

export { thresholdsCrossed };

/**
 * Usage writes change nothing a cache holds: the after-write hooks (tenant re-read, token cache)
 * are not run for them. {@link UsageStore.announce} is the one write that runs them, on purpose.
 */
const NO_HOOKS = { hooks: false } as const;

const NOTHING: UsageSources = Object.freeze({ allowance: 0, grants: [] });

export class UsageStore implements UsageRepository {
  constructor(private readonly ctx: StoreContext) {}

  #write<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.ctx.write(work, NO_HOOKS);
  }

  /**
   * The common case (no key) is one statement outside any transaction; the first write of a
   * period, a consume that needs grants or expired reservations reclaimed, and every consume
   * with a key (its outcome is recorded with it) take a write transaction.
   */
  async consume(request: ConsumeRequest, claim?: IdempotencyClaim): Promise<Recorded<ConsumeOutcome>> {
    if (claim) return this.#idempotent(claim, request, 'consume', (tx) => this.#consumeIn(tx, request));
    const { port } = this.ctx;
    const { meter } = request;
    // Bounded: the second round finds the row the first created.
    for (let round = 0; round < 2; round++) {
      const fast = await consumeFromAllowance(port, request);
      if (fast) {
        // A threshold may have been crossed (rare): marked and audited together, in one transaction.
        const crossed =
          fast.crossed.length === 0
            ? []
            : await this.#write((tx) => this.#reportCrossings(tx, request, fast.crossed, fast.figures.counter));
        return {
          replayed: false,
          outcome: {
            granted: true,
            figures: fast.figures,
            sources: { allowance: request.amount, grants: [] },
            crossed,
          },
        };
      }
      const found = await findCounter(port, meter);
      if (!found) {
        // The period's first write: its row, then the one-statement consume again (no job starts a period).
        await createCounter(port, meter, request.now);
        continue;
      }
      // Refused by the allowance, with nothing that could still cover it (no open reservation
      // to reclaim, no grant): refused without taking the write lock.
      const counter = { used: found.used, fromGrants: found.fromGrants, reserved: found.reserved };
      if (counter.reserved === 0 && !(await hasUsableGrant(port, meter, request.now)))
        return { replayed: false, outcome: { granted: false, figures: { counter, grantBalance: 0 } } };
      break;
    }
    return { replayed: false, outcome: await this.#write((tx) => this.#consumeIn(tx, request)) };
  }

  async giveBack(meter: MeterKey, sources: UsageSources, now: string): Promise<void> {
    await this.#write(async (tx) => {
      await returnToGrants(tx, sources.grants);
      await removeUsage(tx, meter, sources, now);
    });
  }

  refund(request: RefundRequest): Promise<RefundOutcome> {
    const { tenantId, feature, key, now } = request;
    return this.#write(async (tx) => {
      const consumed = await findConsume(tx, tenantId, feature, key, now);
      if (!consumed) throw new ConsumeNotFoundError(feature, key);
      if (!consumed.outcome.granted)
        throw new RefundConflictError(`idempotencyKey: the consume "${key}" was refused and took nothing`);
      const took = consumed.outcome.sources;
      const total = took.allowance + took.grants.reduce((sum, take) => sum + take.amount, 0);
      const amount = request.amount ?? total;
      if (consumed.refund) {
        if (consumed.refund.amount === amount)
          return {
            meter: consumed.meter,
            refunded: amount,
            sources: consumed.refund.sources,
            figures: consumed.refund.figures,
            replayed: true,
          };
        throw new RefundConflictError(
          `idempotencyKey: the consume "${key}" was already refunded (${consumed.refund.amount} units)`,
        );
      }
      if (amount > total)
        throw new RefundConflictError(
          `amount: the consume "${key}" took ${total} units; a refund gives back at most that`,
        );
      const sources = partOf(took, amount);
      await returnToGrants(tx, sources.grants);
      await removeUsage(tx, consumed.meter, sources, now);
      const figures = await readFigures(tx, consumed.meter, now);
      await markRefunded(tx, tenantId, key, { amount, sources, figures });
      await this.ctx.appendAudit(tx, [
        auditEvents.usageRefunded(request.context, consumed.meter, { key, amount, consumed: total }),
      ]);
      return { meter: consumed.meter, refunded: amount, sources, figures, replayed: false };
    });
  }

  reserve(request: ReserveRequest, claim?: IdempotencyClaim): Promise<Recorded<ReserveOutcome>> {
    if (claim) return this.#idempotent(claim, request, 'reserve', (tx) => this.#reserveIn(tx, request));
    return this.#write(async (tx) => ({ replayed: false, outcome: await this.#reserveIn(tx, request) }));
  }

  endReservation(request: EndReservationRequest): Promise<ReservationEnd> {
    const { tenantId, id, end, now } = request;
    return this.#write(async (tx) => {
      const reservation = await takeReservation(tx, tenantId, id, request.holder);
      if (!reservation) throw new ReservationNotFoundError(id);
      // An expired reservation no longer counts (a consume that needs its units recounts `reserved` without it).
      if (reservation.expiresAt <= now) throw new ReservationExpiredError(id);
      const commit = end.kind === 'commit' ? (end.amount ?? reservation.amount) : 0;
      if (commit > reservation.amount)
        throw new InvalidInputError(`amount: at most the ${reservation.amount} units reserved`);
      const meter: MeterKey = { tenantId, feature: reservation.feature, periodStart: reservation.periodStart };
      await lockCounter(tx, meter, now);
      await addReserved(tx, meter, -reservation.amount, now);
      if (commit > 0) await this.#commit(tx, meter, commit, request.limitOf(reservation.feature), now, request.context);
      if (request.audited)
        await this.ctx.appendAudit(tx, [auditEvents.usageReservationReleased(request.context, reservation)]);
      return {
        reservation,
        committed: commit,
        released: reservation.amount - commit,
        figures: await readFigures(tx, meter, now),
      };
    });
  }

  reservations(tenantId: string, now: string, filter: { readonly feature?: string } = {}): Promise<UsageReservation[]> {
    return openReservations(this.ctx.port, tenantId, now, filter.feature);
  }

  figures(meter: MeterKey, now: string): Promise<MeterFigures> {
    return readFigures(this.ctx.port, meter, now);
  }

  history(tenantId: string, feature?: string): Promise<UsagePeriodRecord[]> {
    return counterHistory(this.ctx.port, this.ctx.port.sql.byteOrder, tenantId, feature);
  }

  grant(
    input: { tenantId: string; feature: string; amount: number; reason: string; expiresAt: string | null },
    context: WriteContext,
  ): Promise<UsageGrant> {
    return this.#write(async (tx) => {
      const grant = await insertGrant(tx, { ...input, actor: context.actor, now: this.ctx.nowIso() });
      await this.ctx.appendAudit(tx, [auditEvents.usageGranted(context, grant)]);
      return grant;
    });
  }

  grants(tenantId: string, feature: string, now: string): Promise<UsageGrant[]> {
    return usableGrants(this.ctx.port, { tenantId, feature }, now);
  }

  reset(meter: MeterKey, context: WriteContext): Promise<{ before: MeterCounter; released: number }> {
    return this.#write(async (tx) => {
      const now = this.ctx.nowIso();
      const before = (await readFigures(tx, meter, now)).counter;
      const released = await dropReservations(tx, meter, now);
      await zeroCounter(tx, meter, now);
      await this.ctx.appendAudit(tx, [auditEvents.usageReset(context, meter, before, released)]);
      return { before, released };
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
   * Deletes outcomes and reservations that have expired. An expired reservation already stopped
   * counting; a counter's `reserved` may still include it (an upper bound) until a consume that
   * needs the units recounts it from the open ones.
   */
  purgeExpired(now: string): Promise<number> {
    return this.#write(async (tx) => (await purgeOutcomes(tx, now)) + (await purgeReservations(tx, now)));
  }

  /**
   * Runs a write once per tenant and key: a repeat with the same request hash gets the recorded
   * outcome; with another hash it is a conflict. The outcome is recorded in the same transaction
   * as the write, so a process killed after the commit still answers a retry.
   */
  #idempotent<K extends 'consume' | 'reserve'>(
    claim: IdempotencyClaim,
    request: ConsumeRequest,
    operation: K,
    work: (tx: SqlExecutor) => Promise<K extends 'consume' ? ConsumeOutcome : ReserveOutcome>,
  ): Promise<Recorded<K extends 'consume' ? ConsumeOutcome : ReserveOutcome>> {
    type Outcome = K extends 'consume' ? ConsumeOutcome : ReserveOutcome;
    return this.#write(async (tx) => {
      const seen = await findOutcome(tx, request.meter.tenantId, claim.key, request.now);
      if (seen) {
        if (seen.requestHash !== claim.requestHash || seen.operation !== operation)
          throw new IdempotencyConflictError(claim.key);
        return { replayed: true, outcome: seen.outcome as Outcome };
      }
      const outcome = await work(tx);
      await recordOutcome(tx, claim, request.meter, request.now, { operation, outcome } as Parameters<
        typeof recordOutcome
      >[4]);
      return { replayed: false, outcome };
    });
  }

  async #consumeIn(tx: SqlExecutor, request: ConsumeRequest): Promise<ConsumeOutcome> {
    const { meter, amount, limit, now } = request;
    let counter = await lockCounter(tx, meter, now);
    if (limit === null || counter.used + counter.reserved + amount <= limit) {
      const fast = await consumeFromAllowance(tx, request);
      if (fast)
        return {
          granted: true,
          figures: fast.figures,
          sources: { allowance: amount, grants: [] },
          crossed: await this.#reportCrossings(tx, request, fast.crossed, fast.figures.counter),
        };
    }
    // Expired reservations only count until they stand in the way: reclaimed here, lazily.
    if (counter.reserved > 0) counter = await reclaimReservations(tx, meter, now);
    const allowanceFree = limit === null ? amount : Math.max(0, limit - counter.used - counter.reserved);
    const fromAllowance = Math.min(amount, allowanceFree);
    let needed = amount - fromAllowance;
    const grants = await usableGrants(tx, meter, now);
    const balance = grants.reduce((sum, grant) => sum + grant.remaining, 0);
    const takes: { id: string; amount: number }[] = [];
    for (const grant of grants) {
      if (needed === 0) break;
      const take = Math.min(needed, grant.remaining);
      takes.push({ id: grant.id, amount: take });
      needed -= take;
    }
    if (needed > 0) return { granted: false, figures: { counter, grantBalance: balance } };
    await takeFromGrants(tx, takes);
    const fromGrants = amount - fromAllowance;
    const after = await addUsage(tx, meter, fromAllowance, fromGrants, now);
    const candidates = limit === null ? [] : thresholdsCrossed(limit, counter.used, after.used);
    return {
      granted: true,
      figures: { counter: after, grantBalance: balance - fromGrants },
      sources: { allowance: fromAllowance, grants: takes },
      crossed: await this.#reportCrossings(tx, request, candidates, after),
    };
  }

  async #reserveIn(tx: SqlExecutor, request: ReserveRequest): Promise<ReserveOutcome> {
    const { meter, amount, limit, now } = request;
    let counter = await lockCounter(tx, meter, now);
    if (limit !== null && counter.used + counter.reserved + amount > limit) {
      if (counter.reserved > 0) counter = await reclaimReservations(tx, meter, now);
      const allowanceFree = Math.max(0, limit - counter.used - counter.reserved);
      // Reservations beyond the allowance are held against grants: they may not exceed the grants' balance.
      const overAllowance = Math.max(0, counter.used + counter.reserved - limit);
      const balance = (await usableGrants(tx, meter, now)).reduce((sum, grant) => sum + grant.remaining, 0);
      if (amount > allowanceFree + Math.max(0, balance - overAllowance))
        return { granted: false, figures: await readFigures(tx, meter, now) };
    }
    const reservation = await insertReservation(tx, {
      meter,
      amount,
      holder: request.holder,
      expiresAt: request.expiresAt,
      now,
    });
    await addReserved(tx, meter, amount, now);
    return { granted: true, reservation, figures: await readFigures(tx, meter, now) };
  }

  /**
   * A reservation's commit: the units were held for it, so it consumes from the allowance, then
   * grants, and whatever neither covers any more (a grant expired meanwhile) still counts.
   */
  async #commit(
    tx: SqlExecutor,
    meter: MeterKey,
    amount: number,
    limit: number | null,
    now: string,
    context: WriteContext,
  ): Promise<void> {
    const outcome = await this.#consumeIn(tx, { meter, amount, limit, now, context });
    if (!outcome.granted) await addUsage(tx, meter, amount, 0, now);
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
    if (!(await markAlerted(tx, request.meter, highest))) return [];
    const crossed = [...candidates];
    await this.ctx.appendAudit(
      tx,
      crossed.map((threshold) =>
        auditEvents.usageThreshold(request.context, request.meter, {
          threshold,
          limit: request.limit as number,
          used: counter.used,
        }),
      ),
    );
    return crossed;
  }
}

/** The part of what a consume took that a refund of `amount` gives back: allowance units first, then the grants, last taken first. */
function partOf(took: UsageSources, amount: number): UsageSources {
  if (amount === 0) return NOTHING;
  const allowance = Math.min(amount, took.allowance);
  let left = amount - allowance;
  const grants: { id: string; amount: number }[] = [];
  for (const take of [...took.grants].reverse()) {
    if (left === 0) break;
    const back = Math.min(left, take.amount);
    grants.push({ id: take.id, amount: back });
    left -= back;
  }
  return { allowance, grants };
}
