// Metered entitlements: consume, refund, reserve, grant and read a tenant's meters. The
// allowance comes from the decision (override > plan > default), the period from the clock, and
// the atomic check-and-count from the usage repository. Every surface (the gate, the usage
// routes, the admin routes, OpenFeature, the CLI) goes through this one class.

import { createHash } from 'node:crypto';
import { decide, type Decision } from '../entitlements/decide.js';
import type { TenantDirectory } from '../entitlements/tenant-directory.js';
import {
  FeatureNotFoundError,
  IdempotencyConflictError,
  InvalidInputError,
  NotAMeterError,
  ReservationExpiredError,
  ReservationNotFoundError,
  TenantNotFoundError,
} from '../errors.js';
import type { Logger } from '../logger.js';
import type { FeatureDefinition, PolicySnapshot } from '../policy/types.js';
import type { ConsumeOutcome, MeterKey, UsageGrant, UsageSources, UsageStore } from '../store/repositories/usage.js';
import type { SqlExecutor } from '../store/sql-port.js';
import type { WriteContext } from '../store/store.js';
import {
  allowanceOf,
  meterPeriod,
  meterReading,
  planWithMore,
  refilled,
  type Allowance,
  type MeterReading,
} from './meter-state.js';

/** The largest amount one consume, refund or reservation may name. */
export const MAX_USAGE_AMOUNT = 1_000_000;
/** The longest a reservation may be held: one day. */
export const MAX_RESERVATION_SECONDS = 86_400;
/** How long an idempotency key's first answer is kept. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/** How often expired idempotency answers and reservations are purged, by the next idempotent request. */
export const PURGE_INTERVAL_MS = 3_600_000;

/** An HTTP answer, stored as the first answer of an idempotent request. */
export interface UsageAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** What a granted consume took, to give it back if the work it paid for fails. */
export interface Consumption {
  readonly meter: MeterKey;
  readonly sources: UsageSources;
  /** This consume took the last unit: giving it back refills an empty meter. */
  readonly emptied: boolean;
}

/** The answer of a consume; `consumption` only when this call consumed (not on a replayed answer). */
export interface ConsumeAnswer extends UsageAnswer {
  readonly granted: boolean;
  readonly consumption?: Consumption;
}

export interface UsageRequest {
  readonly tenantId: string;
  readonly feature: string;
  readonly amount: number;
  readonly idempotencyKey?: string | undefined;
  readonly context: WriteContext;
}

export interface MetersOptions {
  readonly usage: UsageStore;
  readonly policy: { readonly snapshot: PolicySnapshot };
  readonly tenants: Pick<TenantDirectory, 'get'>;
  readonly clock: () => number;
  /** Told of every consume (metrics): the feature, the amount, whether it was granted and the thresholds it crossed first. */
  readonly onConsume?: (consume: {
    readonly feature: string;
    readonly amount: number;
    readonly granted: boolean;
    readonly crossed: readonly number[];
  }) => void;
  /** Where a failed announcement of a meter running out or refilling is reported. */
  readonly logger?: Pick<Logger, 'warn'>;
}

/** A meter resolved for one tenant now: its definition, decision, allowance and period key. */
interface ResolvedMeter {
  readonly feature: FeatureDefinition;
  readonly decision: Decision;
  readonly allowance: Allowance;
  readonly meter: MeterKey;
  readonly resetsAt: string | null;
}

export class Meters {
  readonly #usage: UsageStore;
  readonly #policy: { readonly snapshot: PolicySnapshot };
  readonly #tenants: Pick<TenantDirectory, 'get'>;
  readonly #clock: () => number;
  readonly #onConsume: MetersOptions['onConsume'];
  readonly #logger: MetersOptions['logger'];
  #lastPurge: number | undefined;

  constructor(options: MetersOptions) {
    this.#usage = options.usage;
    this.#policy = options.policy;
    this.#tenants = options.tenants;
    this.#clock = options.clock;
    this.#onConsume = options.onConsume;
    this.#logger = options.logger;
  }

  /** Whether `key` names a meter of the policy in force. */
  isMeter(key: string): boolean {
    return this.#policy.snapshot.features.get(key)?.type === 'meter';
  }

  /** The meter's state for a tenant now. */
  async read(tenantId: string, featureKey: string): Promise<MeterReading> {
    const resolved = this.#resolve(tenantId, featureKey);
    return this.#reading(resolved, this.#nowIso());
  }

  /** The meter's state for a decision already made (the OpenFeature provider's meter evaluations). */
  async readDecided(tenantId: string, decision: Decision): Promise<MeterReading> {
    const now = this.#clock();
    const period = meterPeriod(decision.feature, now, decision.billing?.cycleAnchor);
    const resolved: ResolvedMeter = {
      feature: decision.feature,
      decision,
      allowance: allowanceOf(decision),
      meter: { tenantId, feature: decision.feature.key, periodStart: period.start },
      resetsAt: period.end,
    };
    return this.#reading(resolved, new Date(now).toISOString());
  }

  /** Every meter of the policy for a tenant, in policy order. */
  async readAll(tenantId: string): Promise<MeterReading[]> {
    const readings: MeterReading[] = [];
    for (const feature of this.#policy.snapshot.features.values()) {
      if (feature.type === 'meter') readings.push(await this.read(tenantId, feature.key));
    }
    return readings;
  }

  /**
   * Consumes `amount` units if the tenant has them: 200 with the new state, or 403 "Limit
   * reached" naming the plan that gives more. With an idempotency key, a repeat within 24 hours
   * gets the first answer and consumes nothing; the same key with another amount or feature is
   * a 409.
   */
  async consume(request: UsageRequest): Promise<ConsumeAnswer> {
    checkAmount(request.amount);
    const resolved = this.#resolve(request.tenantId, request.feature);
    const now = this.#nowIso();
    const consume = async (tx?: SqlExecutor) => {
      const consumeRequest = {
        meter: resolved.meter,
        amount: request.amount,
        limit: resolved.allowance,
        now,
        context: request.context,
      };
      const outcome = tx ? await this.#usage.consumeIn(tx, consumeRequest) : await this.#usage.consume(consumeRequest);
      this.#onConsume?.({
        feature: request.feature,
        amount: request.amount,
        granted: outcome.granted,
        crossed: outcome.granted ? outcome.crossed : [],
      });
      const answer = await this.#consumeAnswer(resolved, outcome, now, tx);
      return { result: outcome, answer };
    };
    // What this call took: none when it was refused, or replays an earlier answer.
    let sources: UsageSources | undefined;
    let answer: UsageAnswer;
    if (request.idempotencyKey === undefined) {
      const fresh = await consume();
      answer = fresh.answer;
      if (fresh.result.granted) sources = fresh.result.sources;
    } else {
      const outcome = await this.#usage.idempotent(
        request.tenantId,
        this.#claim(request.idempotencyKey, ['consume', request.feature, request.amount]),
        now,
        consume,
      );
      answer = this.#answerOf(outcome, request.idempotencyKey);
      if (outcome.kind === 'fresh' && outcome.result.granted) sources = outcome.result.sources;
    }
    if (!sources) return { ...answer, granted: answer.status === 200 };
    // The consume that took the last unit tells the apps holding answers that the meter ran out.
    const emptied = answer.body.remaining === 0;
    if (emptied) await this.#announce(request.tenantId);
    return { ...answer, granted: true, consumption: { meter: resolved.meter, sources, emptied } };
  }

  /** Gives back what a consume took (a gated handler failed). */
  async giveBack(consumption: Consumption): Promise<void> {
    await this.#usage.giveBack(consumption.meter, consumption.sources, this.#nowIso());
    if (consumption.emptied) await this.#announce(consumption.meter.tenantId);
  }

  /** Lowers the period's usage by `amount`, never below 0. Idempotent like {@link consume}. */
  async refund(request: UsageRequest): Promise<UsageAnswer> {
    checkAmount(request.amount);
    const resolved = this.#resolve(request.tenantId, request.feature);
    const now = this.#nowIso();
    const refund = async (tx: SqlExecutor) => {
      const before = await this.#usage.counter(resolved.meter, now, tx);
      const after = await this.#usage.refundIn(tx, resolved.meter, request.amount, now);
      const refunded = before.used + before.fromGrants - (after.used + after.fromGrants);
      const reading = await this.#reading(resolved, now, tx);
      // Units refunded from grants stay used up (grants are not refilled): only allowance units come back.
      return {
        result: refilled(reading, before.used - after.used),
        answer: { status: 200, body: { refunded, ...reading } },
      };
    };
    if (request.idempotencyKey === undefined) {
      const { result, answer } = await this.#usage.write(refund);
      if (result) await this.#announce(request.tenantId);
      return answer;
    }
    const outcome = await this.#usage.idempotent(
      request.tenantId,
      this.#claim(request.idempotencyKey, ['refund', request.feature, request.amount]),
      now,
      refund,
    );
    if (outcome.kind === 'fresh' && outcome.result) await this.#announce(request.tenantId);
    return this.#answerOf(outcome, request.idempotencyKey);
  }

  /** Holds `amount` units for up to `ttlSeconds`: 200 with the reservation, or 403 "Limit reached". */
  async reserve(request: UsageRequest & { readonly ttlSeconds: number }): Promise<UsageAnswer> {
    checkAmount(request.amount);
    if (
      !Number.isInteger(request.ttlSeconds) ||
      request.ttlSeconds < 1 ||
      request.ttlSeconds > MAX_RESERVATION_SECONDS
    ) {
      throw new InvalidInputError(`ttlSeconds: must be a whole number from 1 to ${MAX_RESERVATION_SECONDS}`);
    }
    const resolved = this.#resolve(request.tenantId, request.feature);
    const nowMs = this.#clock();
    const now = new Date(nowMs).toISOString();
    const expiresAt = new Date(nowMs + request.ttlSeconds * 1000).toISOString();
    const reserve = async (tx: SqlExecutor) => {
      const held = await this.#usage.reserveIn(tx, {
        meter: resolved.meter,
        amount: request.amount,
        limit: resolved.allowance,
        now,
        expiresAt,
        context: request.context,
      });
      const reading = await this.#reading(resolved, now, tx);
      if (!held) return { result: false, answer: this.#limitReached(resolved, reading) };
      // Holding the last units empties the meter as consuming them would.
      return {
        result: reading.remaining === 0,
        answer: {
          status: 200,
          body: { reservationId: held.reservation.id, amount: request.amount, expiresAt, ...reading },
        },
      };
    };
    if (request.idempotencyKey === undefined) {
      const { result, answer } = await this.#usage.write(reserve);
      if (result) await this.#announce(request.tenantId);
      return answer;
    }
    const claim = this.#claim(request.idempotencyKey, ['reserve', request.feature, request.amount, request.ttlSeconds]);
    const outcome = await this.#usage.idempotent(request.tenantId, claim, now, reserve);
    if (outcome.kind === 'fresh' && outcome.result) await this.#announce(request.tenantId);
    return this.#answerOf(outcome, request.idempotencyKey);
  }

  /**
   * Ends a reservation: `commit` consumes `amount` (default: all it holds; at most that), the
   * rest goes back; without `commit` (a release) it all goes back.
   */
  async endReservation(
    tenantId: string,
    reservationId: string,
    end: { readonly commit?: number | undefined; readonly context: WriteContext },
  ): Promise<UsageAnswer> {
    if (
      end.commit !== undefined &&
      (!Number.isInteger(end.commit) || end.commit < 0 || end.commit > MAX_USAGE_AMOUNT)
    ) {
      throw new InvalidInputError(`amount: must be a whole number from 0 to ${MAX_USAGE_AMOUNT}`);
    }
    this.#requireTenant(tenantId);
    const nowIso = this.#nowIso();
    const { answer, refill } = await this.#usage.write(
      async (tx): Promise<{ answer: UsageAnswer; refill: boolean }> => {
        // The reservation's feature decides the allowance; read it before ending it.
        const held = await tx.get('SELECT feature, amount FROM usage_reservations WHERE id = $1 AND tenant_id = $2', [
          reservationId,
          tenantId,
        ]);
        if (!held) throw new ReservationNotFoundError(reservationId);
        const feature = String(held.feature);
        const commit = end.commit === undefined ? undefined : end.commit;
        if (commit !== undefined && commit > Number(held.amount))
          throw new InvalidInputError(`amount: at most the ${Number(held.amount)} units reserved`);
        const resolved = this.#resolve(tenantId, feature);
        const ended = await this.#usage.endReservationIn(tx, tenantId, reservationId, {
          ...(commit === undefined ? {} : { commit }),
          limit: resolved.allowance,
          now: nowIso,
          context: end.context,
        });
        if (ended.kind === 'missing') throw new ReservationNotFoundError(reservationId);
        if (ended.kind === 'expired')
          return { answer: { status: 409, body: expiredBody(reservationId) }, refill: false };
        const reading = await this.#reading(
          { ...resolved, meter: { ...resolved.meter, periodStart: ended.reservation.periodStart } },
          nowIso,
          tx,
        );
        const committed = commit ?? 0;
        const released = ended.reservation.amount - committed;
        return {
          answer: { status: 200, body: { reservationId, committed, released, ...reading } },
          refill: refilled(reading, released),
        };
      },
    );
    if (refill) await this.#announce(tenantId);
    return answer;
  }

  /** Adds a top-up for a tenant's meter (audited). */
  async grant(
    tenantId: string,
    featureKey: string,
    input: { amount: number; reason: string; expiresAt: string | null },
    context: WriteContext,
  ): Promise<UsageGrant> {
    checkAmount(input.amount);
    if (input.expiresAt !== null && Date.parse(input.expiresAt) <= this.#clock())
      throw new InvalidInputError('expiresAt: must be in the future');
    const resolved = this.#resolve(tenantId, featureKey);
    const grant = await this.#usage.grant(
      {
        tenantId,
        feature: resolved.feature.key,
        amount: input.amount,
        reason: input.reason,
        expiresAt: input.expiresAt,
      },
      context,
    );
    if (refilled(await this.#reading(resolved, this.#nowIso()), input.amount)) await this.#announce(tenantId);
    return grant;
  }

  /** Unexpired grants with units left, soonest-expiring first. */
  async grants(tenantId: string, featureKey: string): Promise<UsageGrant[]> {
    const resolved = this.#resolve(tenantId, featureKey);
    return this.#usage.grants(tenantId, resolved.feature.key, this.#nowIso());
  }

  /** Sets the current period's usage of a tenant's meter back to 0 (audited); returns the state after. */
  async reset(tenantId: string, featureKey: string, context: WriteContext): Promise<MeterReading> {
    const resolved = this.#resolve(tenantId, featureKey);
    const before = await this.#usage.reset(resolved.meter, context);
    const reading = await this.#reading(resolved, this.#nowIso());
    // The reset gives back the allowance units used (reservations and grants stay as they were).
    if (refilled(reading, before.used)) await this.#announce(tenantId);
    return reading;
  }

  /** Past and current periods' usage of a tenant, newest first per feature. */
  history(tenantId: string, featureKey?: string): ReturnType<UsageStore['history']> {
    this.#requireTenant(tenantId);
    return this.#usage.history(tenantId, featureKey);
  }

  /** Purges expired idempotency answers and reservations (their units are already not counted). */
  purge(): Promise<number> {
    return this.#usage.purgeExpired(this.#nowIso());
  }

  #resolve(tenantId: string, featureKey: string): ResolvedMeter {
    const snapshot = this.#policy.snapshot;
    const feature = snapshot.features.get(featureKey);
    if (!feature) throw new FeatureNotFoundError(featureKey);
    if (feature.type !== 'meter') throw new NotAMeterError(featureKey);
    const tenant = this.#requireTenant(tenantId);
    const now = this.#clock();
    const decision = decide(snapshot, tenant, featureKey, now) as Decision;
    const period = meterPeriod(feature, now, decision.billing?.cycleAnchor);
    return {
      feature,
      decision,
      allowance: allowanceOf(decision),
      meter: { tenantId, feature: featureKey, periodStart: period.start },
      resetsAt: period.end,
    };
  }

  #requireTenant(tenantId: string) {
    const tenant = this.#tenants.get(tenantId);
    if (!tenant) throw new TenantNotFoundError(tenantId);
    return tenant;
  }

  async #reading(resolved: ResolvedMeter, now: string, tx?: SqlExecutor): Promise<MeterReading> {
    const { counter, grantBalance } = await this.#usage.reading(resolved.meter, now, tx);
    return meterReading(
      resolved.feature,
      resolved.allowance,
      { start: resolved.meter.periodStart, end: resolved.resetsAt },
      counter,
      grantBalance,
    );
  }

  async #consumeAnswer(
    resolved: ResolvedMeter,
    outcome: ConsumeOutcome,
    now: string,
    tx?: SqlExecutor,
  ): Promise<UsageAnswer> {
    // The one-statement consume brought every figure back with its write: no second read.
    const reading =
      outcome.granted && outcome.grantBalance !== undefined
        ? meterReading(
            resolved.feature,
            resolved.allowance,
            { start: resolved.meter.periodStart, end: resolved.resetsAt },
            outcome.counter,
            outcome.grantBalance,
          )
        : await this.#reading(resolved, now, tx);
    if (!outcome.granted) return this.#limitReached(resolved, reading);
    const fromGrants = outcome.sources.grants.reduce((sum, take) => sum + take.amount, 0);
    return {
      status: 200,
      body: { granted: true, ...reading, from: { allowance: outcome.sources.allowance, grants: fromGrants } },
    };
  }

  #limitReached(resolved: ResolvedMeter, reading: MeterReading): UsageAnswer {
    const requiredPlan = planWithMore(this.#policy.snapshot, resolved.decision, resolved.allowance);
    const unit = reading.unit ? ` ${reading.unit}` : '';
    const message = requiredPlan
      ? resolved.feature.upgradeMessage
      : `The limit of ${String(reading.limit)}${unit} for this period is reached${reading.resetsAt ? `; it resets at ${reading.resetsAt}` : ''}.`;
    return {
      status: 403,
      body: {
        error: 'Limit reached',
        code: 'ENT_ERR_LIMIT_REACHED',
        granted: false,
        ...reading,
        requiredPlan,
        message,
      },
    };
  }

  #claim(key: string, request: readonly unknown[]) {
    if (key.length === 0 || key.length > 200)
      throw new InvalidInputError('idempotencyKey: must be 1 to 200 characters');
    this.#purgeNowAndThen();
    return {
      key,
      requestHash: createHash('sha256').update(JSON.stringify(request)).digest('hex'),
      expiresAt: new Date(this.#clock() + IDEMPOTENCY_TTL_MS).toISOString(),
    };
  }

  #answerOf(outcome: Awaited<ReturnType<UsageStore['idempotent']>>, key: string): UsageAnswer {
    if (outcome.kind === 'conflict') throw new IdempotencyConflictError(key);
    return { status: outcome.answer.status, body: outcome.answer.body as Record<string, unknown> };
  }

  /**
   * No maintenance job is needed for correctness (expired rows stop counting by themselves);
   * the purge only keeps the tables small. It runs beside the request, at most once an interval.
   */
  #purgeNowAndThen(): void {
    const now = this.#clock();
    if (this.#lastPurge !== undefined && now - this.#lastPurge < PURGE_INTERVAL_MS) return;
    this.#lastPurge = now;
    // A failed purge is tried again an interval later; the request does not depend on it.
    this.purge().catch(() => undefined);
  }

  /**
   * A meter of the tenant ran out or got units back: its boolean evaluation flipped, and apps
   * that hold answers (OFREP event streams, on every instance) are told through the change feed.
   * It runs after the usage write committed; failing, it loses the nudge and never the write.
   */
  async #announce(tenantId: string): Promise<void> {
    try {
      await this.#usage.announce(tenantId);
    } catch (error) {
      this.#logger?.warn(
        { err: error, tenant: tenantId },
        'a meter ran out or refilled, and the change feed could not be told',
      );
    }
  }

  #nowIso(): string {
    return new Date(this.#clock()).toISOString();
  }
}

function checkAmount(amount: number): void {
  if (!Number.isInteger(amount) || amount < 1 || amount > MAX_USAGE_AMOUNT)
    throw new InvalidInputError(`amount: must be a whole number from 1 to ${MAX_USAGE_AMOUNT}`);
}

function expiredBody(reservationId: string): Record<string, unknown> {
  const error = new ReservationExpiredError(reservationId);
  return { error: error.message, code: error.code, reservationId };
}
