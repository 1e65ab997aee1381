// The billing state machine, pure: a customer's subscriptions and the time → the plan the tenant
// is on. Evaluated lazily at decision time (with the caller's clock), so a grace period or a
// cancellation at period end takes effect on time with no job running.

import type { BillingPolicy, BillingProviderName, PolicySnapshot } from '../policy/types.js';
import { scheduledEnd, type SubscriptionState, type SubscriptionStatus } from '../store/subscription-state.js';

/**
 * Why a billed tenant is on its plan. ACTIVE: paid; TRIAL: trialing until `trialEndsAt`;
 * CANCELING: a cancellation is scheduled (at period end or at a set time), paid until `endsAt`; GRACE_PERIOD: a payment failed, the plan
 * stays until `graceEndsAt`; ENDED: no subscription grants a plan, the fallback plan applies.
 */
export type BillingCause = 'ACTIVE' | 'TRIAL' | 'CANCELING' | 'GRACE_PERIOD' | 'ENDED';

/** What billing makes of a tenant at one moment. */
export interface BillingEvaluation {
  readonly plan: string;
  readonly cause: BillingCause;
  /** The status of the subscription that decided (the winning one, or the latest when none grants). */
  readonly status: SubscriptionStatus;
  readonly subscriptionId: string;
  readonly trialEndsAt?: string;
  readonly graceEndsAt?: string;
  /** A scheduled cancellation (at period end or `cancel_at`): when the plan ends. */
  readonly endsAt?: string;
  /** The subscription's billing cycle anchor, for meters that reset with billing. */
  readonly cycleAnchor?: string;
  /** Until when (ms) this evaluation holds; null when only a new billing event can change it. */
  readonly validUntil: number | null;
}

const DAY_MS = 86_400_000;

/** How much a cause is worth when two subscriptions grant the same plan: the one with fewer caveats shows. */
const CAUSE_RANK: Readonly<Record<BillingCause, number>> = {
  ACTIVE: 4,
  TRIAL: 3,
  CANCELING: 2,
  GRACE_PERIOD: 1,
  ENDED: 0,
};

/** The plan one subscription's prices map to: the highest when its items map to several. */
export function planOfPrices(
  snapshot: PolicySnapshot,
  provider: BillingProviderName,
  prices: readonly string[],
): string | undefined {
  const mapping = snapshot.billing?.prices.get(provider);
  if (!mapping) return undefined;
  let best: string | undefined;
  for (const price of prices) {
    const plan = mapping.get(price);
    if (plan !== undefined && (best === undefined || planRank(snapshot, plan) > planRank(snapshot, best))) best = plan;
  }
  return best;
}

/** Plans are declared lowest first: a later plan is a higher one. */
function planRank(snapshot: PolicySnapshot, plan: string): number {
  let rank = 0;
  for (const key of snapshot.plans.keys()) {
    if (key === plan) return rank;
    rank++;
  }
  return -1;
}

interface Grant {
  readonly plan: string;
  readonly cause: BillingCause;
  readonly subscription: SubscriptionState;
  readonly trialEndsAt?: string;
  readonly graceEndsAt?: string;
  readonly endsAt?: string;
}

/**
 * Evaluates a customer's subscriptions at `now` (ms). The highest plan granted by any
 * subscription wins; with none granting, the policy's fallback plan. Undefined when there is no
 * subscription or the policy has no billing section: the tenant keeps the plan an operator set.
 */
export function evaluateBilling(
  snapshot: PolicySnapshot,
  subscriptions: readonly SubscriptionState[],
  now: number,
): BillingEvaluation | undefined {
  const policy = snapshot.billing;
  if (!policy || subscriptions.length === 0) return undefined;
  let best: Grant | undefined;
  let validUntil: number | null = null;
  const until = (ms: number): void => {
    if (ms > now && (validUntil === null || ms < validUntil)) validUntil = ms;
  };
  for (const subscription of subscriptions) {
    const grant = grantOf(snapshot, policy, subscription, now, until);
    if (!grant) continue;
    if (!best || outranks(snapshot, grant, best)) best = grant;
  }
  if (best) {
    const { plan, cause, subscription, trialEndsAt, graceEndsAt, endsAt } = best;
    return {
      plan,
      cause,
      status: subscription.status,
      subscriptionId: subscription.id,
      ...(trialEndsAt ? { trialEndsAt } : {}),
      ...(graceEndsAt ? { graceEndsAt } : {}),
      ...(endsAt ? { endsAt } : {}),
      ...(subscription.cycleAnchor ? { cycleAnchor: subscription.cycleAnchor } : {}),
      validUntil,
    };
  }
  const latest = subscriptions.reduce((a, b) => (Date.parse(b.observedAt) > Date.parse(a.observedAt) ? b : a));
  return { plan: policy.fallbackPlan, cause: 'ENDED', status: latest.status, subscriptionId: latest.id, validUntil };
}

function outranks(snapshot: PolicySnapshot, a: Grant, b: Grant): boolean {
  const byPlan = planRank(snapshot, a.plan) - planRank(snapshot, b.plan);
  if (byPlan !== 0) return byPlan > 0;
  return CAUSE_RANK[a.cause] > CAUSE_RANK[b.cause];
}

/** What one subscription grants at `now`; reports through `until` when that may change. */
function grantOf(
  snapshot: PolicySnapshot,
  policy: BillingPolicy,
  subscription: SubscriptionState,
  now: number,
  until: (ms: number) => void,
): Grant | undefined {
  const plan = planOfPrices(snapshot, subscription.provider, subscription.prices);
  if (plan === undefined) return undefined;
  switch (subscription.status) {
    case 'active':
    case 'trialing': {
      const trial =
        subscription.status === 'trialing' && subscription.trialEnd ? { trialEndsAt: subscription.trialEnd } : {};
      const endsAt = scheduledEnd(subscription);
      if (endsAt) {
        const end = Date.parse(endsAt);
        if (now >= end) return undefined;
        until(end);
        return { plan, cause: 'CANCELING', subscription, endsAt, ...trial };
      }
      return { plan, cause: subscription.status === 'trialing' ? 'TRIAL' : 'ACTIVE', subscription, ...trial };
    }
    case 'past_due': {
      const since = Date.parse(subscription.pastDueSince ?? subscription.observedAt);
      const end = since + policy.gracePeriodDays * DAY_MS;
      if (now >= end) return undefined;
      until(end);
      return { plan, cause: 'GRACE_PERIOD', subscription, graceEndsAt: new Date(end).toISOString() };
    }
    default:
      // canceled, unpaid, incomplete, incomplete_expired, paused: nothing paid for now.
      return undefined;
  }
}
