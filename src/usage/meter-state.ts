// What a meter looks like to a tenant at one moment, pure: its allowance from the decision, the
// period from the clock, and the counter and grants from the store become limit / used /
// remaining / resetsAt, the same shape for HTTP answers, OpenFeature metadata and the CLI.

import type { Decision } from '../entitlements/decide.js';
import { UNLIMITED, type FeatureDefinition, type PolicySnapshot } from '../policy/types.js';
import type { MeterCounter } from '../store/usage-repository.js';
import { anchoredPeriodAt, periodAt, type UsagePeriod } from './period.js';

/** A meter's allowance: a number of units per period, or null for unlimited. */
export type Allowance = number | null;

/** The allowance a decision gives (a meter's value is its allowance). */
export function allowanceOf(decision: Decision): Allowance {
  const { value } = decision;
  if (value === UNLIMITED) return null;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 0;
}

/** The period last computed for each kind, reused until it ends: consuming needs no date math. */
const currentPeriods = new Map<
  string,
  { readonly period: UsagePeriod; readonly fromMs: number; readonly untilMs: number }
>();

/**
 * The period of a meter feature at `now`. `reset: billing` counts from the tenant's billing cycle
 * anchor (its subscription's, from billing sync); without one it follows the calendar.
 */
export function meterPeriod(feature: FeatureDefinition, now: number, cycleAnchor?: string): UsagePeriod {
  const kind = feature.meter?.period ?? 'none';
  const anchor = feature.meter?.reset === 'billing' && cycleAnchor !== undefined ? Date.parse(cycleAnchor) : Number.NaN;
  if (!Number.isNaN(anchor)) return anchoredPeriodAt(kind, anchor, now);
  const known = currentPeriods.get(kind);
  if (known && now >= known.fromMs && now < known.untilMs) return known.period;
  const period = periodAt(kind, now);
  currentPeriods.set(kind, {
    period,
    fromMs: Date.parse(period.start),
    untilMs: period.end === null ? Number.POSITIVE_INFINITY : Date.parse(period.end),
  });
  return period;
}

/** A meter's state for one tenant, as every surface reports it. */
export interface MeterReading {
  readonly feature: string;
  readonly featureName: string;
  readonly unit: string;
  /** The period's allowance, or "unlimited". */
  readonly limit: number | typeof UNLIMITED;
  /** Units consumed in the period: from the allowance and from grants. */
  readonly used: number;
  /** Units that can still be consumed: the allowance's rest plus unexpired grants, less open reservations; "unlimited" without a limit. */
  readonly remaining: number | typeof UNLIMITED;
  /** Units held by open reservations. */
  readonly reserved: number;
  /** Units left in unexpired grants. */
  readonly grantsRemaining: number;
  readonly periodStart: string;
  /** When the allowance starts afresh; null for a lifetime allowance. */
  readonly resetsAt: string | null;
}

/** Combines allowance, counter and grant balance into a reading. */
export function meterReading(
  feature: FeatureDefinition,
  allowance: Allowance,
  period: UsagePeriod,
  counter: MeterCounter,
  grantBalance: number,
): MeterReading {
  return {
    feature: feature.key,
    featureName: feature.name,
    unit: feature.meter?.unit ?? '',
    limit: allowance ?? UNLIMITED,
    used: counter.used + counter.fromGrants,
    remaining: allowance === null ? UNLIMITED : remainingOf(allowance, counter, grantBalance),
    reserved: counter.reserved,
    grantsRemaining: grantBalance,
    periodStart: period.start,
    resetsAt: period.end,
  };
}

/** Free allowance plus what grants still cover once reservations beyond the allowance are set against them. */
export function remainingOf(allowance: number, counter: MeterCounter, grantBalance: number): number {
  const held = counter.used + counter.reserved;
  return Math.max(0, allowance - held) + Math.max(0, grantBalance - Math.max(0, held - allowance));
}

/**
 * Whether a meter that now reads `reading` was empty before `unitsBack` units came back (a
 * refund, a release, a grant, a reset): its boolean evaluation flipped to true. Remaining is the
 * allowance plus grants less what is held, floored at 0, so it was 0 exactly when the units
 * back are at least what remains now.
 */
export function refilled(reading: MeterReading, unitsBack: number): boolean {
  return typeof reading.remaining === 'number' && reading.remaining > 0 && reading.remaining <= unitsBack;
}

/**
 * The plan to upgrade to for more of a meter: the first plan (lowest first) whose allowance is
 * above `allowance`. None when an override sets the limit: an override beats every plan.
 */
export function planWithMore(snapshot: PolicySnapshot, decision: Decision, allowance: Allowance): string | null {
  if (decision.source === 'override' || allowance === null) return null;
  for (const plan of snapshot.plans.values()) {
    if (plan.key === decision.plan) continue;
    const given = plan.values.get(decision.feature.key)?.value ?? decision.feature.default;
    if (given === UNLIMITED || (typeof given === 'number' && given > allowance)) return plan.key;
  }
  return null;
}
