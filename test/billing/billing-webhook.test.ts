import { Writable } from 'node:stream';
import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBillingApp, DAY_MS, WEBHOOK_URL, type BillingTestApp } from '../support/billing.js';
import {
  eventObject,
  invoiceObject,
  OLD_WEBHOOK_SECRET,
  seconds,
  subscriptionObject,
  WEBHOOK_SECRET,
} from '../support/stripe.js';

describe('POST /api/billing/stripe/webhook', () => {
  let t: BillingTestApp;
  let token: string;

  beforeEach(async () => {
    t = await buildBillingApp({ env: { STRIPE_WEBHOOK_SECRET: `${WEBHOOK_SECRET},${OLD_WEBHOOK_SECRET}` } });
    token = await t.token('acme');
  });
  afterEach(() => t.close());

  const entitlements = async () =>
    (await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) })).json();
  const audit = async (action: string) => (await t.app.entitle.store.audit.list({ action })).items;
  const subscribed = (
    fields: Parameters<typeof subscriptionObject>[0] = {},
    options: { id?: string; type?: string; at?: number } = {},
  ) =>
    eventObject(options.type ?? 'customer.subscription.created', subscriptionObject({ tenant: 'acme', ...fields }), {
      ...(options.id ? { id: options.id } : {}),
      created: seconds(options.at ?? t.now),
    });

  describe('signatures', () => {
    it('rejects a bad signature with 400 and writes nothing', async () => {
      const before = (await t.app.entitle.store.audit.list({})).items.length;
      const res = await t.deliver(subscribed(), { secret: 'whsec_wrong' });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        error: 'Webhook signature rejected: signature does not match',
        code: 'ENT_ERR_BILLING_SIGNATURE',
      });
      expect((await t.app.entitle.store.audit.list({})).items).toHaveLength(before);
      expect(await t.app.entitle.store.billing.linkOf('acme')).toBeUndefined();
      expect((await entitlements()).plan).toBe('free');
    });

    it('rejects a delivery signed more than 300 s ago with 400', async () => {
      const res = await t.deliver(subscribed(), { timestamp: seconds(t.now) - 301 });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('Webhook signature rejected: timestamp outside the 300 s tolerance');
      expect(await t.app.entitle.store.billing.linkOf('acme')).toBeUndefined();
    });

    it('rejects a delivery without Stripe-Signature, and accepts the previous secret during a rotation', async () => {
      const missing = await t.app.inject({
        method: 'POST',
        url: WEBHOOK_URL,
        headers: { 'content-type': 'application/json' },
        payload: '{}',
      });
      expect(missing.statusCode).toBe(400);
      expect((await t.deliver(subscribed(), { secret: OLD_WEBHOOK_SECRET })).statusCode).toBe(200);
    });

    it('rejects a delivery signed more than 300 s ahead of the clock with 400', async () => {
      const ahead = await t.deliver(subscribed(), { timestamp: seconds(t.now) + 3600 });
      expect(ahead.statusCode).toBe(400);
      expect(ahead.json().error).toBe('Webhook signature rejected: timestamp outside the 300 s tolerance');
      expect(await t.app.entitle.store.billing.linkOf('acme')).toBeUndefined();
      // Within the tolerance either way is fine (clocks differ a little).
      expect((await t.deliver(subscribed(), { timestamp: seconds(t.now) + 60 })).statusCode).toBe(200);
    });

    it('says "malformed JSON" for a body that is not JSON under a valid signature', async () => {
      const payload = '{"id": "evt_1", "type": ';
      const signature = new Stripe('sk_test_unused').webhooks.generateTestHeaderString({
        payload,
        secret: WEBHOOK_SECRET,
        timestamp: seconds(t.now),
      });
      const res = await t.app.inject({
        method: 'POST',
        url: WEBHOOK_URL,
        headers: { 'stripe-signature': signature, 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatch(/malformed JSON/);
      expect(res.json().error).not.toMatch(/signature/);
    });

    it('needs no bearer token and ignores one', async () => {
      const res = await t.deliver(subscribed());
      expect(res.statusCode).toBe(200);
    });
  });

  describe('subscriptions drive the plan', () => {
    it('links the tenant named in the metadata and puts it on the plan of the price, audited with the event id', async () => {
      const res = await t.deliver(subscribed({ prices: ['business_monthly'] }, { id: 'evt_created' }));
      expect(res.json()).toEqual({ received: true, id: 'evt_created', outcome: 'applied', duplicate: false });
      expect(await t.app.entitle.store.billing.linkOf('acme')).toMatchObject({
        provider: 'stripe',
        customerId: 'cus_1',
      });
      const body = await entitlements();
      expect(body).toMatchObject({ plan: 'business', billing: { cause: 'ACTIVE', status: 'active' } });
      expect(body.features.can_use_webhooks).toMatchObject({ enabled: true, cause: 'IN_PLAN' });
      const [change] = await audit('billing.subscription.change');
      expect(change).toMatchObject({
        actor: 'billing:stripe',
        tenantId: 'acme',
        target: 'subscription:sub_1',
        details: {
          eventId: 'evt_created',
          eventType: 'customer.subscription.created',
          before: null,
          after: { status: 'active', prices: ['price_business_monthly', 'business_monthly'] },
          plan: { before: 'free', after: 'business', cause: 'ACTIVE' },
        },
      });
      expect(await audit('billing.link')).toHaveLength(1);
      expect((await t.app.entitle.store.tenants.get('acme'))?.plan).toBe('business');
    });

    it('answers a duplicate delivery with 200 and changes nothing', async () => {
      const event = subscribed({}, { id: 'evt_dup' });
      await t.deliver(event);
      const rows = (await t.app.entitle.store.audit.list({})).items.length;
      const again = await t.deliver(event);
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual({ received: true, id: 'evt_dup', outcome: 'applied', duplicate: true });
      expect((await t.app.entitle.store.audit.list({})).items).toHaveLength(rows);
    });

    it('shows a trial with its end in /api/entitlements/ and in the admin explanation', async () => {
      const trialEnd = seconds(t.now + 14 * DAY_MS);
      await t.deliver(subscribed({ status: 'trialing', trialEnd }));
      const endsAt = new Date(trialEnd * 1000).toISOString();
      expect(await entitlements()).toMatchObject({
        plan: 'pro',
        billing: { cause: 'TRIAL', status: 'trialing' },
        trial: { endsAt },
      });
      const admin = await t.token('ops', 'root', { role: 'admin' });
      const explained = (
        await t.app.inject({ method: 'GET', url: '/api/admin/tenants/acme/entitlements', headers: t.auth(admin) })
      ).json();
      expect(explained.plan).toBe('pro');
      expect(explained.features.find((f: { feature: string }) => f.feature === 'can_use_calendar_sync')).toMatchObject({
        granted: true,
        cause: 'IN_PLAN',
        trial: { endsAt },
        billing: { cause: 'TRIAL' },
      });
    });

    it('keeps the plan through the grace period of a failed payment, then falls back on time with no event', async () => {
      await t.deliver(subscribed());
      const failedAt = t.now;
      await t.deliver(eventObject('invoice.payment_failed', invoiceObject('sub_1'), { created: seconds(failedAt) }));
      const graceEnd = new Date(seconds(failedAt) * 1000 + 7 * DAY_MS).toISOString();
      expect(await entitlements()).toMatchObject({ plan: 'pro', gracePeriod: { endsAt: graceEnd } });
      expect((await entitlements()).features.can_use_calendar_sync).toMatchObject({
        enabled: true,
        cause: 'GRACE_PERIOD',
      });
      t.now = Date.parse(graceEnd) - 1;
      expect((await entitlements()).plan).toBe('pro');
      t.now = Date.parse(graceEnd);
      const after = await entitlements();
      expect(after).toMatchObject({ plan: 'free', billing: { cause: 'ENDED', status: 'past_due' } });
      expect(after.features.can_use_calendar_sync).toMatchObject({ enabled: false, cause: 'NOT_IN_PLAN' });
      // The gate follows too (its cache keeps a grace-period decision only until the grace ends).
      expect(
        (await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) })).statusCode,
      ).toBe(403);
    });

    it('keeps the plan when the invoice is paid within the grace period', async () => {
      await t.deliver(subscribed());
      await t.deliver(eventObject('invoice.payment_failed', invoiceObject('sub_1'), { created: seconds(t.now) }));
      t.now += DAY_MS;
      await t.deliver(eventObject('invoice.paid', invoiceObject('sub_1'), { created: seconds(t.now) }));
      t.now += 30 * DAY_MS;
      expect(await entitlements()).toMatchObject({ plan: 'pro', billing: { cause: 'ACTIVE', status: 'active' } });
    });

    it('keeps a plan canceled at period end until the period ends', async () => {
      const periodEnd = seconds(t.now + 10 * DAY_MS);
      await t.deliver(subscribed({ currentPeriodEnd: periodEnd }));
      await t.deliver(
        subscribed(
          { currentPeriodEnd: periodEnd, cancelAtPeriodEnd: true },
          { type: 'customer.subscription.updated', at: t.now + 1000 },
        ),
      );
      expect(await entitlements()).toMatchObject({
        plan: 'pro',
        billing: { cause: 'CANCELING' },
        planEndsAt: new Date(periodEnd * 1000).toISOString(),
      });
      t.now = periodEnd * 1000;
      expect(await entitlements()).toMatchObject({ plan: 'free', billing: { cause: 'ENDED' } });
    });

    describe('items on different cycles (Stripe resolves the period to the earliest item end)', () => {
      const twoCycles = () => ({
        prices: ['pro_monthly', 'pro_addon_yearly'],
        itemPeriodEnds: [seconds(t.now + 10 * DAY_MS), seconds(t.now + 200 * DAY_MS)],
      });

      it('ends a plan canceled at period end when the earliest item period ends, with no event', async () => {
        const earliest = new Date(twoCycles().itemPeriodEnds[0]! * 1000).toISOString();
        await t.deliver(subscribed({ ...twoCycles(), cancelAtPeriodEnd: true }));
        expect(await entitlements()).toMatchObject({
          plan: 'pro',
          billing: { cause: 'CANCELING' },
          planEndsAt: earliest,
        });
        t.now = Date.parse(earliest);
        expect(await entitlements()).toMatchObject({ plan: 'free', billing: { cause: 'ENDED' } });
      });

      it('shows the earliest item period end as the subscription’s current period end', async () => {
        await t.deliver(subscribed(twoCycles()));
        const billing = (
          await t.app.inject({
            method: 'GET',
            url: '/api/admin/tenants/acme/billing',
            headers: t.auth(await t.token('ops', 'root', { role: 'admin' })),
          })
        ).json();
        expect(billing.subscriptions[0]).toMatchObject({
          currentPeriodEnd: new Date(twoCycles().itemPeriodEnds[0]! * 1000).toISOString(),
          cancelAtPeriodEnd: false,
          cancelAt: null,
        });
      });
    });

    describe('cancel_at', () => {
      it('shows a cancellation scheduled by timestamp as CANCELING until then, and falls back at it', async () => {
        const cancelAt = seconds(t.now + 45 * DAY_MS);
        await t.deliver(subscribed({ currentPeriodEnd: seconds(t.now + 30 * DAY_MS), cancelAt }));
        expect(await entitlements()).toMatchObject({
          plan: 'pro',
          billing: { cause: 'CANCELING' },
          planEndsAt: new Date(cancelAt * 1000).toISOString(),
        });
        t.now = cancelAt * 1000 - 1;
        expect((await entitlements()).plan).toBe('pro');
        t.now = cancelAt * 1000;
        expect(await entitlements()).toMatchObject({ plan: 'free', billing: { cause: 'ENDED', status: 'active' } });
      });

      it.each([
        ['min_period_end', 0],
        ['max_period_end', 1],
      ] as const)('reads cancel_at as %s resolved it (the items’ earliest or latest period end)', async (_, which) => {
        const ends = [seconds(t.now + 10 * DAY_MS), seconds(t.now + 200 * DAY_MS)];
        await t.deliver(
          subscribed({ prices: ['pro_monthly', 'pro_addon_yearly'], itemPeriodEnds: ends, cancelAt: ends[which]! }),
        );
        const endsAt = new Date(ends[which]! * 1000).toISOString();
        expect(await entitlements()).toMatchObject({
          plan: 'pro',
          billing: { cause: 'CANCELING' },
          planEndsAt: endsAt,
        });
        t.now = Date.parse(endsAt);
        expect((await entitlements()).plan).toBe('free');
      });

      it('keeps the plan ACTIVE again when the scheduled cancellation is removed', async () => {
        await t.deliver(subscribed({ cancelAt: seconds(t.now + 5 * DAY_MS) }));
        await t.deliver(subscribed({ cancelAt: null }, { type: 'customer.subscription.updated', at: t.now + 1000 }));
        t.now += 6 * DAY_MS;
        const after = await entitlements();
        expect(after).toMatchObject({ plan: 'pro', billing: { cause: 'ACTIVE' } });
        expect(after.planEndsAt).toBeUndefined();
      });
    });

    it.each(['customer.subscription.deleted', 'customer.subscription.paused'])('falls back on %s', async (type) => {
      await t.deliver(subscribed());
      const status = type.endsWith('deleted') ? 'canceled' : 'paused';
      await t.deliver(subscribed({ status }, { type, at: t.now + 1000 }));
      expect(await entitlements()).toMatchObject({ plan: 'free', billing: { cause: 'ENDED', status } });
    });

    it.each(['unpaid', 'incomplete_expired'])('falls back when the subscription becomes %s', async (status) => {
      await t.deliver(subscribed());
      await t.deliver(subscribed({ status }, { type: 'customer.subscription.updated', at: t.now + 1000 }));
      expect((await entitlements()).plan).toBe('free');
    });

    it('lets the highest plan win across a customer’s subscriptions', async () => {
      await t.deliver(subscribed({ id: 'sub_pro', prices: ['pro_monthly'] }));
      await t.deliver(subscribed({ id: 'sub_biz', prices: ['business_yearly'] }));
      expect((await entitlements()).plan).toBe('business');
      await t.deliver(
        subscribed(
          { id: 'sub_biz', prices: ['business_yearly'], status: 'canceled' },
          { type: 'customer.subscription.deleted', at: t.now + 1000 },
        ),
      );
      expect((await entitlements()).plan).toBe('pro');
    });

    it('answers an unmapped price with 200, changes nothing, audits and counts it', async () => {
      await t.deliver(subscribed());
      const res = await t.deliver(
        subscribed(
          { prices: ['enterprise_custom'] },
          { type: 'customer.subscription.updated', at: t.now + 1000, id: 'evt_unmapped' },
        ),
      );
      expect(res.statusCode).toBe(200);
      expect(res.json().outcome).toBe('unmapped_price');
      expect((await entitlements()).plan).toBe('pro');
      expect(await audit('billing.unmapped_price')).toMatchObject([
        {
          tenantId: 'acme',
          outcome: 'failure',
          details: { eventId: 'evt_unmapped', prices: ['price_enterprise_custom', 'enterprise_custom'] },
        },
      ]);
      expect(t.app.entitle.billing?.unmappedPrices).toBe(1);
    });

    it('links through the Checkout client_reference_id, then applies subscription events without metadata', async () => {
      const checkout = {
        id: 'cs_1',
        object: 'checkout.session',
        customer: 'cus_9',
        client_reference_id: 'acme',
        subscription: 'sub_9',
      };
      expect((await t.deliver(eventObject('checkout.session.completed', checkout))).json().outcome).toBe('linked');
      const created = eventObject(
        'customer.subscription.created',
        subscriptionObject({ id: 'sub_9', customer: 'cus_9' }),
        { created: seconds(t.now) },
      );
      expect((await t.deliver(created)).json().outcome).toBe('applied');
      expect((await entitlements()).plan).toBe('pro');
    });

    it('answers an event of an unknown customer with 200 and audits it', async () => {
      const stranger = eventObject('customer.subscription.created', subscriptionObject({ customer: 'cus_nobody' }), {
        created: seconds(t.now),
      });
      expect((await t.deliver(stranger)).json().outcome).toBe('unlinked_customer');
      expect(await audit('billing.unlinked_customer')).toHaveLength(1);
      expect((await entitlements()).plan).toBe('free');
    });

    it('audits trial_will_end and changes nothing', async () => {
      await t.deliver(subscribed({ status: 'trialing', trialEnd: seconds(t.now + 3 * DAY_MS) }));
      const res = await t.deliver(
        eventObject(
          'customer.subscription.trial_will_end',
          subscriptionObject({ status: 'trialing', trialEnd: seconds(t.now + 3 * DAY_MS) }),
        ),
      );
      expect(res.json().outcome).toBe('audited');
      expect(await audit('billing.trial_will_end')).toHaveLength(1);
    });
  });
});

describe('POST /api/billing/stripe/webhook without Stripe configured', () => {
  it('answers 503 naming what to set', async () => {
    const t = await buildBillingApp({ env: { STRIPE_WEBHOOK_SECRET: '' } });
    try {
      const res = await t.deliver(eventObject('customer.subscription.created', subscriptionObject()));
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({
        error: 'Billing is not configured on this server: set STRIPE_WEBHOOK_SECRET',
        code: 'ENT_ERR_BILLING_NOT_CONFIGURED',
      });
    } finally {
      await t.close();
    }
  });
});

describe('billing through the Unleash client API', () => {
  it('rebuilds the payload when a grace period ends, with no write', async () => {
    const t = await buildBillingApp();
    try {
      await t.token('acme');
      const client = t.auth(await t.token('sdk', 'server', { role: 'client' }));
      await t.deliver(
        eventObject('customer.subscription.created', subscriptionObject({ tenant: 'acme', status: 'past_due' }), {
          created: seconds(t.now),
        }),
      );
      const syncOn = async () => {
        type Strategy = { segments?: number[]; constraints: { operator: string; values: string[] }[] };
        const features = (await t.app.inject({ method: 'GET', url: '/api/client/features', headers: client })).json()
          .features as { name: string; strategies: Strategy[] }[];
        // acme is the only tenant that could have it: on through its plan's segment, or listed by id.
        const strategies = features.find((f) => f.name === 'can_use_calendar_sync')?.strategies ?? [];
        return strategies.some(
          (s) =>
            (s.segments ?? []).length > 0 ||
            s.constraints.some((c) => c.operator === 'IN' && c.values.includes('acme')),
        );
      };
      expect(await syncOn()).toBe(true);
      t.now += 7 * DAY_MS + 1000;
      expect(await syncOn()).toBe(false);
    } finally {
      await t.close();
    }
  });
});

describe('billing in /metrics', () => {
  it('counts handled events by outcome, and unmapped prices', async () => {
    const t = await buildBillingApp();
    try {
      await t.token('acme');
      const event = eventObject(
        'customer.subscription.created',
        subscriptionObject({ tenant: 'acme', prices: ['price_nobody_maps'] }),
        { created: seconds(t.now) },
      );
      await t.deliver(event);
      await t.deliver(event);
      const text = await t.app.entitle.metrics.registry.metrics();
      expect(text).toContain('entitle_billing_unmapped_prices_total 1');
      expect(text).toContain(
        'entitle_billing_events_total{type="customer.subscription.created",outcome="unmapped_price"} 1',
      );
      expect(text).toContain(
        'entitle_billing_events_total{type="customer.subscription.created",outcome="duplicate"} 1',
      );
    } finally {
      await t.close();
    }
  });
});

describe('POST /api/billing/stripe/webhook from an address that keeps failing', () => {
  it('counts unsigned posts as failed authentications: 429 past the limit, one warning, Stripe still heard elsewhere', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const t = await buildBillingApp({
      env: { ENTITLE_RATE_LIMIT_AUTH_FAILURES: '3' },
      logger: { level: 'info', stream },
    });
    try {
      const post = (remoteAddress: string, headers: Record<string, string> = {}) =>
        t.app
          .inject({
            method: 'POST',
            url: WEBHOOK_URL,
            remoteAddress,
            headers: { 'content-type': 'application/json', ...headers },
            payload: JSON.stringify({ junk: 'x'.repeat(1000) }),
          })
          .then((r) => r.statusCode);
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push(await post('198.51.100.9', { 'stripe-signature': 't=1,v1=00' }));
      expect(statuses).toEqual([400, 400, 400, 429, 429]);
      // The same table as the API's: the address's bearer guesses are refused too.
      const api = await t.app.inject({
        method: 'GET',
        url: '/api/entitlements/',
        remoteAddress: '198.51.100.9',
        headers: { authorization: `Bearer ent_${'0'.repeat(12)}_${'x'.repeat(43)}` },
      });
      expect(api.statusCode).toBe(429);
      // A signed delivery from another address is handled.
      await t.token('acme');
      expect(
        (await t.deliver(eventObject('customer.subscription.created', subscriptionObject({ tenant: 'acme' }))))
          .statusCode,
      ).toBe(200);
      // One access line per refused post, and one warning for the address, not one per post.
      expect(
        lines.filter((line) => line.msg === 'request' && line.route === WEBHOOK_URL && line.status !== 200),
      ).toHaveLength(5);
      expect(lines.filter((line) => Number(line.level) >= 40 && line.reqId !== undefined)).toEqual([
        expect.objectContaining({ reason: 'signature does not match' }),
      ]);
    } finally {
      await t.close();
    }
  });
});
