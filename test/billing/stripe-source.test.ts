import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BillingSignatureError, StripeSource } from '../../src/billing/stripe/stripe-source.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe-fake.js';
import {
  eventObject,
  invoiceObject,
  OLD_WEBHOOK_SECRET,
  seconds,
  signedDelivery,
  subscriptionObject,
  WEBHOOK_SECRET,
} from '../support/stripe.js';

const NOW = Date.parse('2026-11-30T05:00:00Z');

function source(options: { secrets?: string[]; apiUrl?: string } = {}): StripeSource {
  return new StripeSource({
    webhookSecrets: options.secrets ?? [WEBHOOK_SECRET],
    clock: () => NOW,
    ...(options.apiUrl ? { apiKey: 'sk_test_fake', apiUrl: new URL(options.apiUrl) } : {}),
  });
}

function verify(
  stripe: StripeSource,
  event: Record<string, unknown>,
  options: { secret?: string; timestamp?: number } = {},
) {
  const { payload, headers } = signedDelivery(event, { timestamp: seconds(NOW), ...options });
  return stripe.verify(Buffer.from(payload), headers);
}

describe('StripeSource.verify', () => {
  const event = eventObject(
    'customer.subscription.updated',
    subscriptionObject({ status: 'trialing', trialEnd: seconds(NOW) + 86_400, tenant: 'acme' }),
    {
      id: 'evt_a',
      created: seconds(NOW) - 10,
    },
  );

  it('reads a signed subscription event into a subscription statement', () => {
    expect(verify(source(), event)).toEqual({
      provider: 'stripe',
      id: 'evt_a',
      type: 'customer.subscription.updated',
      createdAt: new Date((seconds(NOW) - 10) * 1000).toISOString(),
      kind: 'subscription',
      tenantHint: 'acme',
      subscription: {
        provider: 'stripe',
        id: 'sub_1',
        customerId: 'cus_1',
        status: 'trialing',
        prices: ['price_pro_monthly', 'pro_monthly'],
        currentPeriodEnd: '2026-12-31T00:00:00.000Z',
        cancelAtPeriodEnd: false,
        cancelAt: null,
        trialEnd: new Date((seconds(NOW) + 86_400) * 1000).toISOString(),
        pastDueSince: null,
        cycleAnchor: '2026-11-01T00:00:00.000Z',
        observedAt: new Date((seconds(NOW) - 10) * 1000).toISOString(),
        items: [{ prices: ['price_pro_monthly', 'pro_monthly'], quantity: 1 }],
      },
    });
  });

  it('accepts every configured secret, so a rotation loses no delivery', () => {
    const rotating = source({ secrets: [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET] });
    expect(verify(rotating, event, { secret: OLD_WEBHOOK_SECRET }).id).toBe('evt_a');
    expect(verify(rotating, event, { secret: WEBHOOK_SECRET }).id).toBe('evt_a');
  });

  it('rejects a signature made with another secret', () => {
    expect(() => verify(source(), event, { secret: 'whsec_attacker' })).toThrow(
      new BillingSignatureError('signature does not match'),
    );
  });

  it('rejects a delivery signed more than 300 s ago, and accepts one at 300 s', () => {
    expect(() => verify(source(), event, { timestamp: seconds(NOW) - 301 })).toThrow(
      new BillingSignatureError('timestamp outside the 300 s tolerance'),
    );
    expect(verify(source(), event, { timestamp: seconds(NOW) - 300 }).id).toBe('evt_a');
  });

  it('rejects a body changed after signing', () => {
    const { payload, headers } = signedDelivery(event, { timestamp: seconds(NOW) });
    expect(() => source().verify(Buffer.from(payload.replace('trialing', 'active')), headers)).toThrow(
      BillingSignatureError,
    );
  });

  it('rejects a delivery without the header', () => {
    expect(() => source().verify(Buffer.from('{}'), {})).toThrow(
      new BillingSignatureError('Stripe-Signature header missing'),
    );
  });

  it('finds the subscription of an invoice and the tenant of a checkout', () => {
    expect(verify(source(), eventObject('invoice.payment_failed', invoiceObject('sub_9', 'cus_9')))).toMatchObject({
      kind: 'invoice',
      paid: false,
      subscriptionId: 'sub_9',
      customerId: 'cus_9',
    });
    const checkout = {
      id: 'cs_1',
      object: 'checkout.session',
      customer: 'cus_2',
      client_reference_id: 'acme',
      subscription: 'sub_2',
    };
    expect(verify(source(), eventObject('checkout.session.completed', checkout))).toMatchObject({
      kind: 'checkout',
      customerId: 'cus_2',
      tenantHint: 'acme',
      subscriptionId: 'sub_2',
    });
    expect(verify(source(), eventObject('charge.refunded', { id: 'ch_1' }))).toMatchObject({
      kind: 'ignored',
      type: 'charge.refunded',
    });
  });
});

describe('StripeSource reading subscriptions back', () => {
  let fake: FakeStripe;
  beforeEach(async () => {
    fake = await startFakeStripe();
  });
  afterEach(() => fake.close());

  it('retrieves one subscription with the API key, through STRIPE_API_URL', async () => {
    fake.put(subscriptionObject({ id: 'sub_7', status: 'past_due', tenant: 'acme' }));
    const read = await source({ apiUrl: fake.url }).retrieveSubscription('sub_7');
    expect(read).toMatchObject({
      tenantHint: 'acme',
      subscription: { id: 'sub_7', status: 'past_due', observedAt: new Date(NOW).toISOString() },
    });
    expect(fake.requests).toEqual([
      { method: 'GET', path: '/v1/subscriptions/sub_7', authorization: 'Bearer sk_test_fake' },
    ]);
  });

  it('pages through every subscription, canceled ones included', async () => {
    for (let i = 0; i < 230; i++)
      fake.put(
        subscriptionObject({ id: `sub_${String(i).padStart(3, '0')}`, status: i % 10 === 0 ? 'canceled' : 'active' }),
      );
    const ids: string[] = [];
    for await (const { subscription } of source({ apiUrl: fake.url }).listSubscriptions()) ids.push(subscription.id);
    expect(ids).toHaveLength(230);
    expect(new Set(ids).size).toBe(230);
    expect(fake.requests.map((r) => r.path)).toEqual([
      '/v1/subscriptions?status=all&limit=100',
      '/v1/subscriptions?status=all&limit=100&starting_after=sub_099',
      '/v1/subscriptions?status=all&limit=100&starting_after=sub_199',
    ]);
  });
});
