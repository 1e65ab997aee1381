// Add-ons bought as Stripe subscription items: the item's quantity is the add-on's, the item's
// removal (or the subscription's end) takes it away, an add-on the plan may not hold is left out
// and audited, and an operator's add-ons are never touched by billing.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildBillingApp, type BillingTestApp } from '../support/billing.js';
import { copyPolicyDir } from '../support/policy.js';
import { eventObject, seconds, subscriptionObject, type SubscriptionFields } from '../support/stripe.js';
import { startReceiver, type Receiver } from '../support/webhook-receiver.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe-fake.js';

const ADDONS = `addons:
  sms_pack:
    name: 1,000 more SMS a month
    availableOn: [pro, business]
    features: { sms_reminders_per_month: 1000 }
    billing: { stripe: { prices: [sms_pack_monthly] } }
  extra_calendars:
    availableOn: [business]
    features: { max_connected_calendars: 5 }
    billing: { stripe: { prices: [extra_calendars_monthly] } }
`;

describe('Stripe subscription items as add-ons', () => {
  let t: BillingTestApp | undefined;
  let receiver: Receiver | undefined;
  let fake: FakeStripe | undefined;
  afterEach(async () => {
    await t?.close();
    await receiver?.close();
    await fake?.close();
    t = receiver = fake = undefined;
  });

  async function start(env: Record<string, string> = {}) {
    const dir = copyPolicyDir();
    writeFileSync(join(dir, 'addons.yaml'), ADDONS);
    t = await buildBillingApp({ env: { ENTITLE_POLICIES: dir, ENTITLE_WEBHOOKS_ALLOW_PRIVATE: 'true', ...env } });
    const app = t;
    const member = app.auth(await app.token('acme'));
    const admin = app.auth(await app.token('ops', 'olga', { role: 'admin' }));
    let step = 0;
    /** A subscription event for acme, each one a second after the one before (ordering is by time). */
    const deliver = (fields: SubscriptionFields, type = 'customer.subscription.updated') =>
      app.deliver(
        eventObject(type, subscriptionObject({ tenant: 'acme', ...fields }), {
          created: seconds(app.now) + ++step,
        }),
      );
    const meter = async (feature: string) => {
      const body = (await app.app.inject({ method: 'GET', url: '/api/usage', headers: member })).json<{
        meters: { feature: string; limit: number | string }[];
      }>();
      return body.meters.find((m) => m.feature === feature)?.limit;
    };
    const entitlement = async (feature: string) => {
      const body = (await app.app.inject({ method: 'GET', url: '/api/entitlements/', headers: member })).json<{
        features: Record<string, { value: unknown; cause: string }>;
      }>();
      return body.features[feature];
    };
    const audit = async (action: string) => (await app.app.entitle.store.audit.list({ action })).items;
    const held = async () =>
      (await app.app.inject({ method: 'GET', url: '/api/admin/tenants/acme/addons', headers: admin })).json<{
        items: Record<string, unknown>[];
      }>().items;
    return { app, admin, deliver, meter, entitlement, audit, held };
  }

  it('adds 3,000 to a meter’s allowance for an add-on item of quantity 3; removing the item takes it away', async () => {
    const { deliver, meter, entitlement, audit, held } = await start();
    const created = await deliver(
      { prices: ['pro_monthly', 'sms_pack_monthly'], quantities: [1, 3] },
      'customer.subscription.created',
    );
    expect(created.json()).toMatchObject({ outcome: 'applied' });
    expect(await meter('sms_reminders_per_month')).toBe(3500);
    expect(await entitlement('sms_reminders_per_month')).toMatchObject({ value: 3500, cause: 'GRANTED_BY_ADDON' });
    expect(await held()).toEqual([
      expect.objectContaining({
        addon: 'sms_pack',
        quantity: 3,
        billing: { provider: 'stripe', subscriptionId: 'sub_1' },
      }),
    ]);
    expect(await audit('billing.addon.set')).toMatchObject([
      {
        actor: 'billing:stripe',
        tenantId: 'acme',
        target: 'addon:sms_pack',
        outcome: 'success',
        details: { subscriptionId: 'sub_1', before: null, after: { quantity: 3 } },
      },
    ]);

    // The subscription updated without the item: the add-on goes, the plan stays.
    expect((await deliver({ prices: ['pro_monthly'] })).json()).toMatchObject({ outcome: 'applied' });
    expect(await meter('sms_reminders_per_month')).toBe(500);
    expect(await entitlement('sms_reminders_per_month')).toMatchObject({ value: 500, cause: 'IN_PLAN' });
    expect(await held()).toEqual([]);
    expect(await audit('billing.addon.remove')).toMatchObject([
      { target: 'addon:sms_pack', details: { before: { quantity: 3 }, after: null } },
    ]);
  });

  it('follows the item’s quantity on updates, and the subscription’s end takes the add-on away', async () => {
    const { deliver, meter, audit } = await start();
    await deliver({ prices: ['pro_monthly', 'sms_pack_monthly'], quantities: [1, 2] }, 'customer.subscription.created');
    expect(await meter('sms_reminders_per_month')).toBe(2500);
    expect((await deliver({ prices: ['pro_monthly', 'sms_pack_monthly'], quantities: [1, 5] })).json()).toMatchObject({
      outcome: 'applied',
    });
    expect(await meter('sms_reminders_per_month')).toBe(5500);
    expect((await audit('billing.addon.set')).map((row) => row.details)).toEqual([
      expect.objectContaining({ before: { quantity: 2 }, after: { quantity: 5 } }),
      expect.objectContaining({ before: null, after: { quantity: 2 } }),
    ]);
    // The same statement again changes nothing.
    expect((await deliver({ prices: ['pro_monthly', 'sms_pack_monthly'], quantities: [1, 5] })).json()).toMatchObject({
      outcome: 'unchanged',
    });

    await deliver(
      { prices: ['pro_monthly', 'sms_pack_monthly'], quantities: [1, 5], status: 'canceled' },
      'customer.subscription.deleted',
    );
    // The fallback plan (free) without the add-on.
    expect(await meter('sms_reminders_per_month')).toBe(0);
    expect(await audit('billing.addon.remove')).toHaveLength(1);
  });

  it('leaves out an add-on the plan may not hold and audits it, applying the rest of the subscription', async () => {
    const { deliver, meter, entitlement, audit, held } = await start();
    const res = await deliver(
      { prices: ['pro_monthly', 'extra_calendars_monthly', 'sms_pack_monthly'], quantities: [1, 2, 1] },
      'customer.subscription.created',
    );
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ outcome: 'applied' });
    expect(await entitlement('max_connected_calendars')).toMatchObject({ value: 2, cause: 'IN_PLAN' });
    expect(await meter('sms_reminders_per_month')).toBe(1500);
    expect((await held()).map((row) => row.addon)).toEqual(['sms_pack']);
    expect(await audit('billing.addon_unavailable')).toMatchObject([
      {
        actor: 'billing:stripe',
        tenantId: 'acme',
        target: 'addon:extra_calendars',
        outcome: 'failure',
        details: { subscriptionId: 'sub_1', quantity: 2, plan: 'pro' },
      },
    ]);

    // Upgraded to business in the same subscription: now the plan may hold it.
    await deliver({ prices: ['business_monthly', 'extra_calendars_monthly'], quantities: [1, 2] });
    expect(await entitlement('max_connected_calendars')).toMatchObject({ value: 16, cause: 'GRANTED_BY_ADDON' });
  });

  it('never touches an operator’s add-on: the two add up, and each side changes only its own', async () => {
    const { app, admin, deliver, meter, held } = await start();
    await deliver({ prices: ['pro_monthly'] }, 'customer.subscription.created');
    const put = await app.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/acme/addons/sms_pack',
      headers: admin,
      payload: { quantity: 1 },
    });
    expect(put.statusCode).toBe(200);
    await deliver({ prices: ['pro_monthly', 'sms_pack_monthly'], quantities: [1, 3] });
    expect(await meter('sms_reminders_per_month')).toBe(4500);
    expect((await held()).map(({ quantity, billing }) => ({ quantity, billing }))).toEqual([
      { quantity: 1 },
      { quantity: 3, billing: { provider: 'stripe', subscriptionId: 'sub_1' } },
    ]);
    await deliver({ prices: ['pro_monthly'] });
    expect(await meter('sms_reminders_per_month')).toBe(1500);
    expect((await held()).map(({ quantity }) => quantity)).toEqual([1]);
  });

  it('stops counting billing’s add-ons when the grace period of a failed payment ends, with no event', async () => {
    const { app, deliver, meter } = await start();
    await deliver({ prices: ['pro_monthly', 'sms_pack_monthly'], quantities: [1, 3] }, 'customer.subscription.created');
    await deliver({ prices: ['pro_monthly', 'sms_pack_monthly'], quantities: [1, 3], status: 'past_due' });
    expect(await meter('sms_reminders_per_month')).toBe(3500);
    app.now += 8 * 86_400_000;
    expect(await meter('sms_reminders_per_month')).toBe(0);
  });

  it('reconcile reports an add-on quantity changed with no event heard, and stores Stripe’s', async () => {
    fake = await startFakeStripe();
    const { app, deliver, meter, audit } = await start({ STRIPE_API_KEY: 'sk_test_fake', STRIPE_API_URL: fake.url });
    const items = (quantity: number) => ({
      tenant: 'acme',
      prices: ['pro_monthly', 'sms_pack_monthly'],
      quantities: [1, quantity],
    });
    fake.put(subscriptionObject(items(2)));
    await deliver(items(2), 'customer.subscription.created');
    expect(await meter('sms_reminders_per_month')).toBe(2500);
    // Stripe now says 4; the event is lost.
    fake.put(subscriptionObject(items(4)));
    const sync = app.app.entitle.billing;
    if (!sync) throw new Error('Stripe is configured');
    const report = await sync.reconcile({ dryRun: true });
    expect(report.drift).toMatchObject([
      {
        subscriptionId: 'sub_1',
        kind: 'changed',
        stored: { addons: { sms_pack: 2 } },
        actual: { addons: { sms_pack: 4 } },
      },
    ]);
    expect(await meter('sms_reminders_per_month')).toBe(2500);
    expect(await sync.reconcile({ dryRun: false })).toMatchObject({ fixed: 1 });
    expect(await meter('sms_reminders_per_month')).toBe(4500);
    expect((await audit('billing.addon.set')).map((row) => row.details)).toContainEqual(
      expect.objectContaining({ eventId: 'reconcile', before: { quantity: 2 }, after: { quantity: 4 } }),
    );
    expect((await sync.reconcile({ dryRun: true })).drift).toEqual([]);
  });

  it('announces the add-on through entitlements.changed, caused by addon.set from billing', async () => {
    const { app, admin, deliver } = await start();
    receiver = await startReceiver();
    const registered = await app.app.inject({
      method: 'POST',
      url: '/api/admin/webhooks',
      headers: admin,
      payload: { url: receiver.url, events: ['entitlements.changed'] },
    });
    expect(registered.statusCode).toBe(201);
    receiver.secrets = [registered.json().secret];
    await deliver({ prices: ['pro_monthly'] }, 'customer.subscription.created');
    await receiver.until((all) => all.length >= 1);
    await deliver({ prices: ['pro_monthly', 'sms_pack_monthly'], quantities: [1, 3] });
    const all = await receiver.until((deliveries) => deliveries.length >= 2);
    // Signed at the app's clock, which this test sets in the past: the body is read unverified.
    expect(all[1]?.verifyError).toMatch(/timestamp/i);
    expect(JSON.parse(all[1]?.body ?? '{}').data).toMatchObject({
      tenantId: 'acme',
      changes: [{ feature: 'sms_reminders_per_month', before: 500, after: 3500 }],
      cause: { kind: 'addon.set', actor: 'billing:stripe', addon: 'sms_pack' },
    });
  });
});
