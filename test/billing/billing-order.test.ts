// Out-of-order deliveries: for every pair of events that matters, both orders end in the state of
// the later event. Once with statements ordered by their own timestamps (no API key), once with
// every event read back from (a fake) Stripe's API.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe-fake.js';
import { buildBillingApp, DAY_MS, type BillingTestApp } from '../support/billing.js';
import { eventObject, invoiceObject, seconds, subscriptionObject, type SubscriptionFields } from '../support/stripe.js';

const START = Date.parse('2026-11-30T05:00:00Z');
const T0 = seconds(START) - 300;
const T1 = T0 + 60;
const T2 = T0 + 120;
const PERIOD_END = seconds(START + 20 * DAY_MS);

type Step = { readonly type: string; readonly fields?: SubscriptionFields; readonly invoice?: boolean };

interface Case {
  readonly name: string;
  /** Stored before the pair (at T0). */
  readonly setup?: SubscriptionFields;
  readonly first: Step;
  readonly second: Step;
  /** Where both orders must end. */
  readonly expected: { readonly plan: string; readonly status: string; readonly cause: string };
  /** What Stripe's API says after both (for the read-back run). */
  readonly stripeHas: SubscriptionFields;
}

const sub = (fields: SubscriptionFields = {}): SubscriptionFields => ({
  tenant: 'acme',
  currentPeriodEnd: PERIOD_END,
  ...fields,
});

const CASES: readonly Case[] = [
  {
    name: 'created, then updated to past_due',
    first: { type: 'customer.subscription.created', fields: sub() },
    second: { type: 'customer.subscription.updated', fields: sub({ status: 'past_due' }) },
    expected: { plan: 'pro', status: 'past_due', cause: 'GRACE_PERIOD' },
    stripeHas: sub({ status: 'past_due' }),
  },
  {
    name: 'trial started, then the trial converts to active',
    first: { type: 'customer.subscription.created', fields: sub({ status: 'trialing', trialEnd: T1 + 3600 }) },
    second: { type: 'customer.subscription.updated', fields: sub({ status: 'active' }) },
    expected: { plan: 'pro', status: 'active', cause: 'ACTIVE' },
    stripeHas: sub({ status: 'active' }),
  },
  {
    name: 'an upgrade, then a trial of the higher plan (a later update must not wipe the trial)',
    setup: sub(),
    first: { type: 'customer.subscription.updated', fields: sub({ prices: ['business_monthly'] }) },
    second: {
      type: 'customer.subscription.updated',
      fields: sub({ prices: ['business_monthly'], status: 'trialing', trialEnd: seconds(START + 14 * DAY_MS) }),
    },
    expected: { plan: 'business', status: 'trialing', cause: 'TRIAL' },
    stripeHas: sub({ prices: ['business_monthly'], status: 'trialing', trialEnd: seconds(START + 14 * DAY_MS) }),
  },
  {
    name: 'updated, then deleted',
    setup: sub(),
    first: { type: 'customer.subscription.updated', fields: sub({ prices: ['business_monthly'] }) },
    second: {
      type: 'customer.subscription.deleted',
      fields: sub({ prices: ['business_monthly'], status: 'canceled' }),
    },
    expected: { plan: 'free', status: 'canceled', cause: 'ENDED' },
    stripeHas: sub({ prices: ['business_monthly'], status: 'canceled' }),
  },
  {
    name: 'canceled at period end, then the cancellation withdrawn',
    setup: sub(),
    first: { type: 'customer.subscription.updated', fields: sub({ cancelAtPeriodEnd: true }) },
    second: { type: 'customer.subscription.updated', fields: sub({ cancelAtPeriodEnd: false }) },
    expected: { plan: 'pro', status: 'active', cause: 'ACTIVE' },
    stripeHas: sub(),
  },
  {
    name: 'payment failed, then paid',
    setup: sub(),
    first: { type: 'invoice.payment_failed', invoice: true },
    second: { type: 'invoice.paid', invoice: true },
    expected: { plan: 'pro', status: 'active', cause: 'ACTIVE' },
    stripeHas: sub(),
  },
  {
    name: 'updated to past_due, then paid',
    setup: sub(),
    first: { type: 'customer.subscription.updated', fields: sub({ status: 'past_due' }) },
    second: { type: 'invoice.paid', invoice: true },
    expected: { plan: 'pro', status: 'active', cause: 'ACTIVE' },
    stripeHas: sub(),
  },
  {
    name: 'paid, then a later payment failed',
    setup: sub(),
    first: { type: 'invoice.paid', invoice: true },
    second: { type: 'invoice.payment_failed', invoice: true },
    expected: { plan: 'pro', status: 'past_due', cause: 'GRACE_PERIOD' },
    stripeHas: sub({ status: 'past_due' }),
  },
  {
    name: 'paused, then resumed',
    setup: sub(),
    first: { type: 'customer.subscription.paused', fields: sub({ status: 'paused' }) },
    second: { type: 'customer.subscription.resumed', fields: sub({ status: 'active' }) },
    expected: { plan: 'pro', status: 'active', cause: 'ACTIVE' },
    stripeHas: sub(),
  },
];

function eventOf(step: Step, created: number): Record<string, unknown> {
  return eventObject(step.type, step.invoice ? invoiceObject('sub_1') : subscriptionObject(step.fields), { created });
}

async function run(t: BillingTestApp, c: Case, order: 'in order' | 'reversed'): Promise<unknown> {
  if (c.setup)
    expect(
      (await t.deliver(eventObject('customer.subscription.created', subscriptionObject(c.setup), { created: T0 })))
        .statusCode,
    ).toBe(200);
  const first = eventOf(c.first, T1);
  const second = eventOf(c.second, T2);
  for (const event of order === 'in order' ? [first, second] : [second, first])
    expect((await t.deliver(event)).statusCode).toBe(200);
  const token = await t.token('acme');
  const body = (await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) })).json();
  return { plan: body.plan, status: body.billing?.status, cause: body.billing?.cause };
}

describe('out-of-order deliveries, ordered by the statements’ own timestamps', () => {
  for (const c of CASES) {
    describe(c.name, () => {
      it.each(['in order', 'reversed'] as const)('ends in the later state when delivered %s', async (order) => {
        const t = await buildBillingApp({ start: START });
        try {
          await t.token('acme');
          expect(await run(t, c, order)).toEqual(c.expected);
        } finally {
          await t.close();
        }
      });
    });
  }
});

describe('out-of-order deliveries, read back from the Stripe API', () => {
  let fake: FakeStripe;
  beforeAll(async () => {
    fake = await startFakeStripe();
  });
  afterAll(() => fake.close());

  for (const c of CASES) {
    it.each(['in order', 'reversed'] as const)(
      `${c.name}: ends in what Stripe says when delivered %s`,
      async (order) => {
        const t = await buildBillingApp({
          start: START,
          env: { STRIPE_API_KEY: 'sk_test_fake', STRIPE_API_URL: fake.url },
        });
        try {
          await t.token('acme');
          // Stripe already has the final state when the (late) events arrive: every event reads it back.
          fake.put(subscriptionObject(c.stripeHas));
          expect(await run(t, c, order)).toEqual(c.expected);
        } finally {
          await t.close();
        }
      },
    );
  }
});
