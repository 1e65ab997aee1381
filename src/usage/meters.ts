// Metered entitlements: consume, refund, reserve, grant and read a tenant's meters. The
// allowance comes from the decision (override > plan > default), the period from the clock, and
// the atomic check-and-count, its transactions and its idempotency from the usage repository.
// Every surface (the gate, the usage routes, the admin routes, OpenFeature, the CLI) goes
// through this one class; it returns results and throws the errors of errors.ts.

import { createHash } from 'node:crypto';
import { decide, type Decision, type TenantState } from '../entitlements/decide.js';
import type { TenantDirectory } from '../entitlements/tenant-directory.js';
import { FeatureNotFoundError, InvalidInputError, NotAMeterError, TenantNotFoundError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { FeatureDefinition, PolicySnapshot } from '../policy/types.js';
import type { WriteContext } from '../store/store.js';
import type {
  IdempotencyClaim,
  MeterFigures,
  MeterKey,
  UsageGrant,
  UsagePeriodRecord,
  UsageRepository,
  UsageReservation,
  UsageSources,
} from '../store/usage-repository.js';
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
/** How long an idempotency key's outcome is kept (and a consume can be refunded). */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/** How often expired outcomes and reservations are purged, by the next idempotent request. */
export const PURGE_INTERVAL_MS = 3_600_000;

/** What a granted consume took, to give it back if the work it paid for fails. */
export interface Consumption {
  readonly meter: MeterKey;
  readonly sources: UsageSources;
  /** This consume took the last unit: giving it back refills an empty meter. */
  readonly emptied: boolean;
}

/** A refusal: the meter is used up; the plan that gives more (none when an override sets the limit), and why. */
export interface Refusal {
  readonly granted: false;
  readonly reading: MeterReading;
  readonly requiredPlan: string | null;
  readonly message: string;
}

/** A consume's result; `consumption` only when this call consumed (not on a replay). */
export type ConsumeResult =
  | {
      readonly granted: true;
      readonly reading: MeterReading;
      /** Where the units came from. */
      readonly from: { readonly allowance: number; readonly grants: number };
      readonly consumption?: Consumption;
    }
  | Refusal;

export type ReserveResult =
  | {
      readonly granted: true;
      readonly reservation: { readonly id: string; readonly amount: number; readonly expiresAt: string };
      readonly reading: MeterReading;
    }
  | Refusal;

export interface RefundResult {
  readonly refunded: number;
  readonly reading: MeterReading;
}

export interface ReservationEndResult {
  readonly reservationId: string;
  readonly committed: number;
  readonly released: number;
  readonly reading: MeterReading;
}

export interface UsageRequest {
  readonly tenantId: string;
  readonly feature: string;
  readonly amount: number;
  readonly idempotencyKey?: string | undefined;
  readonly context: WriteContext;
}

export interface MetersOptions {
  readonly usage: UsageRepository;
  readonly policy: { readonly snapshot: PolicySnapshot };
  readonly tenants: Pick<TenantDirectory, 'get' | 'load'>;
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
  readonly #usage: UsageRepository;
  readonly #policy: { readonly snapshot: PolicySnapshot };
  readonly #tenants: Pick<TenantDirectory, 'get' | 'load'>;
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
    const resolved = await this.#resolve(tenantId, featureKey);
    return this.#readingOf(resolved, await this.#usage.figures(resolved.meter, this.#nowIso()));
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
    return this.#readingOf(resolved, await this.#usage.figures(resolved.meter, new Date(now).toISOString()));
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
   * Consumes `amount` units if the tenant has them, or refuses naming the plan that gives more.
   * With an idempotency key, a repeat within 24 hours gets the recorded outcome and consumes
   * nothing (IdempotencyConflictError with another amount or feature); such a consume is one a
   * service can refund.
   */
  async consume(request: UsageRequest): Promise<ConsumeResult> {
    checkAmount(request.amount);
    const resolved = await this.#resolve(request.tenantId, request.feature);
    const now = this.#nowIso();
    const claim =
      request.idempotencyKey === undefined
        ? undefined
        : this.#claim(request.idempotencyKey, ['consume', request.feature, request.amount]);
    const { outcome, replayed } = await this.#usage.consume(
      { meter: resolved.meter, amount: request.amount, limit: resolved.allowance, now, context: request.context },
      claim,
    );
    if (!replayed)
      this.#onConsume?.({
        feature: request.feature,
        amount: request.amount,
        granted: outcome.granted,
        crossed: outcome.granted ? outcome.crossed : [],
      });
    const reading = this.#readingOf(resolved, outcome.figures);
    if (!outcome.granted) return this.#refusal(resolved, reading);
    const { sources } = outcome;
    const from = { allowance: sources.allowance, grants: sources.grants.reduce((sum, take) => sum + take.amount, 0) };
    if (replayed) return { granted: true, reading, from };
    // The consume that took the last unit tells the apps holding answers that the meter ran out.
    const emptied = reading.remaining === 0;
    if (emptied) await this.#announce(request.tenantId);
    return { granted: true, reading, from, consumption: { meter: resolved.meter, sources, emptied } };
  }

  /** Gives back what a consume took (a gated handler failed). */
  async giveBack(consumption: Consumption): Promise<void> {
    await this.#usage.giveBack(consumption.meter, consumption.sources, this.#nowIso());
    if (consumption.emptied) await this.#announce(consumption.meter.tenantId);
  }

  /**
   * Undoes a consume named by its idempotency key: gives back `amount` (default: all it took,
   * at most that), once, audited. The same refund again gets the same result.
   */
  async refund(request: {
    readonly tenantId: string;
    readonly feature: string;
    readonly idempotencyKey: string;
    readonly amount?: number | undefined;
    readonly context: WriteContext;
  }): Promise<RefundResult> {
    if (request.amount !== undefined) checkAmount(request.amount);
    checkKey(request.idempotencyKey);
    const resolved = await this.#resolve(request.tenantId, request.feature);
    const now = this.#nowIso();
    const refund = await this.#usage.refund({
      tenantId: request.tenantId,
      feature: request.feature,
      key: request.idempotencyKey,
      amount: request.amount,
      now,
      context: request.context,
    });
    // A consume of a period that has ended since gives back to that period; the answer shows the meter now.
    const current = refund.meter.periodStart === resolved.meter.periodStart;
    const reading = this.#readingOf(
      resolved,
      current ? refund.figures : await this.#usage.figures(resolved.meter, now),
    );
    const back = refund.sources.allowance + refund.sources.grants.reduce((sum, take) => sum + take.amount, 0);
    if (!refund.replayed && current && refilled(reading, back)) await this.#announce(request.tenantId);
    return { refunded: refund.refunded, reading };
  }

  /** Holds `amount` units for up to `ttlSeconds` for the caller, or refuses like {@link consume}. Idempotent like it. */
  async reserve(request: UsageRequest & { readonly ttlSeconds: number }): Promise<ReserveResult> {
    checkAmount(request.amount);
    if (
      !Number.isInteger(request.ttlSeconds) ||
      request.ttlSeconds < 1 ||
      request.ttlSeconds > MAX_RESERVATION_SECONDS
    ) {
      throw new InvalidInputError(`ttlSeconds: must be a whole number from 1 to ${MAX_RESERVATION_SECONDS}`);
    }
    const resolved = await this.#resolve(request.tenantId, request.feature);
    const nowMs = this.#clock();
    const now = new Date(nowMs).toISOString();
    const claim =
      request.idempotencyKey === undefined
        ? undefined
        : this.#claim(request.idempotencyKey, ['reserve', request.feature, request.amount, request.ttlSeconds]);
    const { outcome, replayed } = await this.#usage.reserve(
      {
        meter: resolved.meter,
        amount: request.amount,
        limit: resolved.allowance,
        now,
        expiresAt: new Date(nowMs + request.ttlSeconds * 1000).toISOString(),
        holder: request.context.actor,
        context: request.context,
      },
      claim,
    );
    const reading = this.#readingOf(resolved, outcome.figures);
    if (!outcome.granted) return this.#refusal(resolved, reading);
    // Holding the last units empties the meter as consuming them would.
    if (!replayed && reading.remaining === 0) await this.#announce(request.tenantId);
    const { id, amount, expiresAt } = outcome.reservation;
    return { granted: true, reservation: { id, amount, expiresAt }, reading };
  }

  /**
   * Ends a reservation of the tenant: a commit consumes `amount` (default: all it holds; at
   * most that) and gives the rest back; a release gives it all back. With `holder`, only a
   * reservation that holder made is found; `audited` for an operator's release.
   */
  async endReservation(
    tenantId: string,
    reservationId: string,
    options: {
      readonly end: { readonly kind: 'commit'; readonly amount?: number | undefined } | { readonly kind: 'release' };
      readonly holder?: string | undefined;
      readonly audited?: boolean;
      readonly context: WriteContext;
    },
  ): Promise<ReservationEndResult> {
    const { end } = options;
    if (
      end.kind === 'commit' &&
      end.amount !== undefined &&
      (!Number.isInteger(end.amount) || end.amount < 0 || end.amount > MAX_USAGE_AMOUNT)
    ) {
      throw new InvalidInputError(`amount: must be a whole number from 0 to ${MAX_USAGE_AMOUNT}`);
    }
    const tenant = await this.#requireTenant(tenantId);
    const ended = await this.#usage.endReservation({
      tenantId,
      id: reservationId,
      end,
      holder: options.holder,
      audited: options.audited ?? false,
      // The reservation's feature decides the allowance its commit counts against.
      limitOf: (feature) => this.#resolveFor(tenant, tenantId, feature).allowance,
      now: this.#nowIso(),
      context: options.context,
    });
    const resolved = this.#resolveFor(tenant, tenantId, ended.reservation.feature);
    const reading = this.#readingOf(
      { ...resolved, meter: { ...resolved.meter, periodStart: ended.reservation.periodStart } },
      ended.figures,
    );
    if (refilled(reading, ended.released)) await this.#announce(tenantId);
    return { reservationId, committed: ended.committed, released: ended.released, reading };
  }

  /** The tenant's open reservations, oldest first. */
  async reservations(tenantId: string, featureKey?: string): Promise<UsageReservation[]> {
    const tenant = await this.#requireTenant(tenantId);
    if (featureKey !== undefined) this.#resolveFor(tenant, tenantId, featureKey);
    return this.#usage.reservations(tenantId, this.#nowIso(), featureKey === undefined ? {} : { feature: featureKey });
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
    const resolved = await this.#resolve(tenantId, featureKey);
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
    if (refilled(await this.read(tenantId, featureKey), input.amount)) await this.#announce(tenantId);
    return grant;
  }

  /** Unexpired grants with units left, soonest-expiring first. */
  async grants(tenantId: string, featureKey: string): Promise<UsageGrant[]> {
    const resolved = await this.#resolve(tenantId, featureKey);
    return this.#usage.grants(tenantId, resolved.feature.key, this.#nowIso());
  }

  /**
   * Sets the current period's usage of a tenant's meter back to 0 and releases its open
   * reservations of the period (audited); returns the state after and the units released.
   */
  async reset(
    tenantId: string,
    featureKey: string,
    context: WriteContext,
  ): Promise<{ reading: MeterReading; releasedReservations: number }> {
    const resolved = await this.#resolve(tenantId, featureKey);
    const { before, released } = await this.#usage.reset(resolved.meter, context);
    const reading = await this.read(tenantId, featureKey);
    // Grants stay as they were: the allowance units used and the units held come back.
    if (refilled(reading, before.used + released)) await this.#announce(tenantId);
    return { reading, releasedReservations: released };
  }

  /** Past and current periods' usage of a tenant, newest first per feature. */
  async history(tenantId: string, featureKey?: string): Promise<UsagePeriodRecord[]> {
    await this.#requireTenant(tenantId);
    return this.#usage.history(tenantId, featureKey);
  }

  /** Purges expired outcomes and reservations (their units are already not counted). */
  purge(): Promise<number> {
    return this.#usage.purgeExpired(this.#nowIso());
  }

  /** The meter for a tenant now; the tenant is read first when it is not in memory. */
  async #resolve(tenantId: string, featureKey: string): Promise<ResolvedMeter> {
    meterOf(this.#policy.snapshot, featureKey);
    return this.#resolveFor(await this.#requireTenant(tenantId), tenantId, featureKey);
  }

  #resolveFor(tenant: TenantState, tenantId: string, featureKey: string): ResolvedMeter {
    const snapshot = this.#policy.snapshot;
    const feature = meterOf(snapshot, featureKey);
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

  async #requireTenant(tenantId: string): Promise<TenantState> {
    const tenant = this.#tenants.get(tenantId) ?? (await this.#tenants.load(tenantId));
    if (!tenant) throw new TenantNotFoundError(tenantId);
    return tenant;
  }

  #readingOf(resolved: ResolvedMeter, figures: MeterFigures): MeterReading {
    return meterReading(
      resolved.feature,
      resolved.allowance,
      { start: resolved.meter.periodStart, end: resolved.resetsAt },
      figures.counter,
      figures.grantBalance,
    );
  }

  #refusal(resolved: ResolvedMeter, reading: MeterReading): Refusal {
    const requiredPlan = planWithMore(this.#policy.snapshot, resolved.decision, resolved.allowance);
    const unit = reading.unit ? ` ${reading.unit}` : '';
    const message = requiredPlan
      ? resolved.feature.upgradeMessage
      : `The limit of ${String(reading.limit)}${unit} for this period is reached${reading.resetsAt ? `; it resets at ${reading.resetsAt}` : ''}.`;
    return { granted: false, reading, requiredPlan, message };
  }

  #claim(key: string, request: readonly unknown[]): IdempotencyClaim {
    checkKey(key);
    this.#purgeNowAndThen();
    return {
      key,
      requestHash: createHash('sha256').update(JSON.stringify(request)).digest('hex'),
      expiresAt: new Date(this.#clock() + IDEMPOTENCY_TTL_MS).toISOString(),
    };
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

function checkKey(key: string): void {
  if (key.length === 0 || key.length > 200) throw new InvalidInputError('idempotencyKey: must be 1 to 200 characters');
}

/** The policy's meter `featureKey`; throws when there is no such feature or it is not a meter. */
function meterOf(snapshot: PolicySnapshot, featureKey: string): FeatureDefinition {
  const feature = snapshot.features.get(featureKey);
  if (!feature) throw new FeatureNotFoundError(featureKey);
  if (feature.type !== 'meter') throw new NotAMeterError(featureKey);
  return feature;
}
