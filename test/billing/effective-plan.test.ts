import { describe, expect, it } from 'vitest';
import { evaluateBilling, planOfPrices } from '../../src/billing/effective-plan.js';
import type { SubscriptionState } from '../../src/store/subscription-state.js';
import { snapshotOf } from '../support/policy.js';

const policy = snapshotOf(`
features:
  can_export:
    name: Export
    description: ''
    type: boolean
    default: false
    upgradeMessage: Upgrade
plans:
  free: {}
  pro:
    billing: { stripe: { prices: [pro_monthly, price_pro_y] } }
    features: { can_export: true }
  business:
    extends: pro
    billing: { stripe: { prices: [business_monthly] } }
billing:
  fallbackPlan: free
  gracePeriodDays: 7
`);

const DAY = 86_400_000;
const T0 = Date.parse('2026-11-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function subscription(fields: Partial<SubscriptionState> = {}): SubscriptionState {
  return {
    provider: 'stripe',
    id: 'sub_1',
    customerId: 'cus_1',
    status: 'active',
    prices: ['price_pro_m', 'pro_monthly'],
    currentPeriodEnd: iso(T0 + 30 * DAY),
    cancelAtPeriodEnd: false,
    cancelAt: null,
    trialEnd: null,
    pastDueSince: null,
    cycleAnchor: iso(T0),
    observedAt: iso(T0),
    ...fields,
  };
}

describe('evaluateBilling', () => {
  it('puts an active subscription on the plan of its price, by lookup key or id', () => {
    expect(evaluateBilling(policy, [subscription()], T0 + DAY)).toEqual({
      plan: 'pro',
      cause: 'ACTIVE',
      status: 'active',
      subscriptionId: 'sub_1',
      cycleAnchor: iso(T0),
      validUntil: null,
    });
    expect(planOfPrices(policy, 'stripe', ['price_pro_y'])).toBe('pro');
  });

  it('shows a trial with its end', () => {
    const trialEnd = iso(T0 + 14 * DAY);
    expect(evaluateBilling(policy, [subscription({ status: 'trialing', trialEnd })], T0)).toMatchObject({
      plan: 'pro',
      cause: 'TRIAL',
      trialEndsAt: trialEnd,
    });
  });

  it('keeps a past_due plan for the grace period, then falls back on time with no event', () => {
    const past = subscription({ status: 'past_due', pastDueSince: iso(T0 + DAY) });
    const graceEndsAt = iso(T0 + 8 * DAY);
    expect(evaluateBilling(policy, [past], T0 + 8 * DAY - 1)).toMatchObject({
      plan: 'pro',
      cause: 'GRACE_PERIOD',
      graceEndsAt,
      validUntil: T0 + 8 * DAY,
    });
    expect(evaluateBilling(policy, [past], T0 + 8 * DAY)).toMatchObject({
      plan: 'free',
      cause: 'ENDED',
      status: 'past_due',
    });
  });

  it('keeps a plan canceled at period end until the period ends', () => {
    const canceling = subscription({ cancelAtPeriodEnd: true });
    expect(evaluateBilling(policy, [canceling], T0 + 29 * DAY)).toMatchObject({
      plan: 'pro',
      cause: 'CANCELING',
      endsAt: iso(T0 + 30 * DAY),
      validUntil: T0 + 30 * DAY,
    });
    expect(evaluateBilling(policy, [canceling], T0 + 30 * DAY)).toMatchObject({ plan: 'free', cause: 'ENDED' });
  });

  it.each(['canceled', 'unpaid', 'incomplete_expired', 'incomplete', 'paused'] as const)(
    'falls back when the subscription is %s',
    (status) => {
      expect(evaluateBilling(policy, [subscription({ status })], T0)).toMatchObject({
        plan: 'free',
        cause: 'ENDED',
        status,
      });
    },
  );

  it('lets the highest plan win across a customer’s subscriptions', () => {
    const subs = [
      subscription({ id: 'sub_b', prices: ['business_monthly'], status: 'past_due', pastDueSince: iso(T0) }),
      subscription({ id: 'sub_p' }),
    ];
    expect(evaluateBilling(policy, subs, T0 + DAY)).toMatchObject({
      plan: 'business',
      cause: 'GRACE_PERIOD',
      subscriptionId: 'sub_b',
    });
    // Once the business grace period is over, the paid pro subscription is what is left.
    expect(evaluateBilling(policy, subs, T0 + 7 * DAY)).toMatchObject({
      plan: 'pro',
      cause: 'ACTIVE',
      subscriptionId: 'sub_p',
    });
  });

  it('prefers the subscription with fewer caveats when two grant the same plan', () => {
    const subs = [
      subscription({ id: 'sub_trial', status: 'trialing', trialEnd: iso(T0 + DAY) }),
      subscription({ id: 'sub_paid' }),
    ];
    expect(evaluateBilling(policy, subs, T0)).toMatchObject({
      plan: 'pro',
      cause: 'ACTIVE',
      subscriptionId: 'sub_paid',
    });
  });

  it('grants nothing for a price no plan maps: the fallback plan applies', () => {
    expect(evaluateBilling(policy, [subscription({ prices: ['price_unknown'] })], T0)).toMatchObject({
      plan: 'free',
      cause: 'ENDED',
    });
  });

  it('leaves a tenant without subscriptions, or a policy without billing, to the operator', () => {
    expect(evaluateBilling(policy, [], T0)).toBeUndefined();
    const noBilling = snapshotOf({ plans: { free: {} }, features: {} });
    expect(evaluateBilling(noBilling, [subscription()], T0)).toBeUndefined();
  });
});
