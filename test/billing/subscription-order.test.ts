import { describe, expect, it } from 'vitest';
import type { SubscriptionState } from '../../src/store/subscription-state.js';
import { mergeInvoice, mergeSubscription } from '../../src/billing/subscription-order.js';

const at = (minute: number) => new Date(Date.UTC(2026, 10, 1, 0, minute)).toISOString();

function state(
  status: SubscriptionState['status'],
  minute: number,
  fields: Partial<SubscriptionState> = {},
): SubscriptionState {
  return {
    provider: 'stripe',
    id: 'sub_1',
    customerId: 'cus_1',
    status,
    prices: ['pro_monthly'],
    currentPeriodEnd: at(60),
    cancelAtPeriodEnd: false,
    cancelAt: null,
    trialEnd: null,
    pastDueSince: null,
    cycleAnchor: at(0),
    observedAt: at(minute),
    ...fields,
  };
}

describe('mergeSubscription', () => {
  it('stores the first statement', () => {
    expect(mergeSubscription(undefined, state('active', 1))).toEqual({
      applied: true,
      changed: true,
      next: state('active', 1),
    });
  });

  it('never lets an older statement replace a newer one', () => {
    expect(mergeSubscription(state('active', 5), state('trialing', 4))).toEqual({ applied: false, reason: 'stale' });
  });

  it('keeps a canceled subscription canceled', () => {
    expect(mergeSubscription(state('canceled', 5), state('active', 6))).toEqual({ applied: false, reason: 'canceled' });
  });

  it('records a repeat with its newer time but as no change', () => {
    expect(mergeSubscription(state('active', 1), state('active', 2))).toEqual({
      applied: true,
      changed: false,
      next: state('active', 2),
    });
  });

  it('starts the grace period at the first past_due statement and keeps it', () => {
    const first = mergeSubscription(state('active', 1), state('past_due', 2));
    expect(first).toMatchObject({ applied: true, next: { pastDueSince: at(2) } });
    const again = mergeSubscription(first.applied ? first.next : undefined, state('past_due', 9));
    expect(again).toMatchObject({ applied: true, next: { pastDueSince: at(2), observedAt: at(9) } });
  });
});

describe('mergeInvoice', () => {
  it('makes an active subscription past_due on a failed payment, from the payment time', () => {
    expect(mergeInvoice(state('active', 1), { paid: false, at: at(3) })).toMatchObject({
      applied: true,
      changed: true,
      next: { status: 'past_due', pastDueSince: at(3) },
    });
  });

  it('ends a past_due run on a paid invoice', () => {
    expect(mergeInvoice(state('past_due', 3, { pastDueSince: at(3) }), { paid: true, at: at(4) })).toMatchObject({
      applied: true,
      next: { status: 'active', pastDueSince: null },
    });
  });

  it('does not end a trial on its zero invoice being paid', () => {
    expect(mergeInvoice(state('trialing', 1), { paid: true, at: at(2) })).toMatchObject({
      applied: true,
      changed: false,
      next: { status: 'trialing' },
    });
  });

  it('ignores an invoice older than the stored state, and any invoice of a canceled subscription', () => {
    expect(mergeInvoice(state('active', 5), { paid: false, at: at(4) })).toEqual({ applied: false, reason: 'stale' });
    expect(mergeInvoice(state('canceled', 1), { paid: true, at: at(4) })).toEqual({
      applied: false,
      reason: 'canceled',
    });
  });
});
