// Events reach a receiver that verifies them with the `standardwebhooks` package: an override's
// entitlements.changed, meter thresholds, a Stripe subscription change; retries on the schedule
// with the same webhook-id, 410 and failure streaks disabling the endpoint, the log and replay.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, NO_RATE_LIMITS, type TestApp } from '../support/app.js';
import { buildBillingApp } from '../support/billing.js';
import { eventObject, seconds, subscriptionObject } from '../support/stripe.js';
import { startReceiver, verified, type Receiver } from '../support/webhook-receiver.js';

const SHORT = { ENTITLE_WEBHOOKS_RETRY_SCHEDULE: '20ms,20ms', ENTITLE_WEBHOOKS_ALLOW_PRIVATE: 'true' };

async function register(
  t: TestApp,
  admin: { authorization: string },
  receiver: Receiver,
  events: string[],
): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/admin/webhooks',
    headers: admin,
    payload: { url: receiver.url, events },
  });
  expect(res.statusCode).toBe(201);
  receiver.secrets = [res.json().secret];
  return res.json().endpoint.id as string;
}

describe('webhook delivery', () => {
  let t: TestApp;
  let admin: { authorization: string };
  let receiver: Receiver;

  beforeEach(async () => {
    t = await buildTestApp({ env: { ...NO_RATE_LIMITS, ...SHORT } });
    admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await t.close();
    await receiver.close();
  });

  const setOverride = (tenant: string, feature: string, value: unknown) =>
    t.app.inject({
      method: 'PUT',
      url: `/api/admin/tenants/${tenant}/overrides/${feature}`,
      headers: admin,
      payload: { value, reason: 'support ticket 42' },
    });

  it('sends entitlements.changed for an override, signed to the Standard Webhooks spec', async () => {
    await t.token('acme', 'amy');
    await register(t, admin, receiver, ['entitlements.changed']);
    expect((await setOverride('acme', 'can_use_sso', true)).statusCode).toBeLessThan(300);
    const [delivery] = await receiver.until((all) => all.length >= 1);
    expect(delivery?.verifyError).toBeUndefined();
    expect(delivery?.headers['webhook-id']).toMatch(/^msg_/);
    expect(delivery?.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(delivery?.event).toEqual({
      type: 'entitlements.changed',
      timestamp: expect.any(String),
      data: {
        tenantId: 'acme',
        sequence: 1,
        changes: [{ feature: 'can_use_sso', before: false, after: true }],
        cause: {
          kind: 'override.set',
          actor: expect.stringContaining('olivia'),
          feature: 'can_use_sso',
          auditSeq: expect.any(Number),
        },
      },
    });
    // Removing it changes the decision back: the next event, the next sequence number.
    await t.app.inject({
      method: 'DELETE',
      url: '/api/admin/tenants/acme/overrides/can_use_sso',
      headers: admin,
      payload: { reason: 'ticket closed' },
    });
    const all = await receiver.until((deliveries) => deliveries.length >= 2);
    expect(verified(all)[1]?.data).toMatchObject({
      sequence: 2,
      changes: [{ feature: 'can_use_sso', before: true, after: false }],
      cause: { kind: 'override.removed' },
    });
  });

  it('sends nothing for an override that decides as the plan did', async () => {
    await t.token('acme', 'amy');
    await register(t, admin, receiver, ['entitlements.changed', 'tenant.created']);
    await setOverride('acme', 'can_use_sso', false);
    await t.token('beta', 'bob');
    const [delivery] = await receiver.until((all) => all.length >= 1);
    expect(delivery?.event?.type).toBe('tenant.created');
    expect(delivery?.event?.data.tenantId).toBe('beta');
  });

  it('signs with both secrets during a rotation, so a receiver on either verifies', async () => {
    await t.token('acme', 'amy');
    const id = await register(t, admin, receiver, ['entitlements.changed']);
    const old = receiver.secrets[0] as string;
    const rotated = await t.app.inject({
      method: 'POST',
      url: `/api/admin/webhooks/${id}/rotate-secret`,
      headers: admin,
    });
    await setOverride('acme', 'can_use_sso', true);
    const [delivery] = await receiver.until((all) => all.length >= 1);
    expect(delivery?.headers['webhook-signature']?.split(' ')).toHaveLength(2);
    for (const secret of [old, rotated.json().secret as string]) {
      receiver.secrets = [secret];
      const { Webhook } = await import('standardwebhooks');
      expect(() => new Webhook(secret).verify(delivery?.body ?? '', delivery?.headers ?? {})).not.toThrow();
    }
  });

  it('retries a receiver that answers 500 twice, delivers on the third try with the same webhook-id, and logs each attempt', async () => {
    await t.token('acme', 'amy');
    const id = await register(t, admin, receiver, ['entitlements.changed']);
    receiver.answer = (n) => (n <= 2 ? 500 : 200);
    await setOverride('acme', 'can_use_sso', true);
    const all = await receiver.until((deliveries) => deliveries.length >= 3);
    expect(new Set(all.map((delivery) => delivery.id)).size).toBe(1);
    expect(all.every((delivery) => delivery.verifyError === undefined)).toBe(true);
    const log = await waitForLog(t, admin, id, (items) => items[0]?.status === 'delivered');
    expect(log[0]).toMatchObject({ status: 'delivered', attempts: 3, lastStatus: 200, lastError: null });
    const attempts = await t.app.inject({
      method: 'GET',
      url: `/api/admin/webhooks/${id}/deliveries/${log[0]?.id}/attempts`,
      headers: admin,
    });
    expect(attempts.json().items.map((a: { status: number; outcome: string }) => [a.status, a.outcome])).toEqual([
      [200, 'delivered'],
      [500, 'retry'],
      [500, 'retry'],
    ]);
    expect(
      (
        await t.app.inject({
          method: 'GET',
          url: `/api/admin/webhooks/${id}/deliveries/dlv_unknown/attempts`,
          headers: admin,
        })
      ).statusCode,
    ).toBe(404);
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics', headers: admin })).body;
    expect(metrics).toContain('entitle_webhook_deliveries_total{outcome="retry"} 2');
    expect(metrics).toContain('entitle_webhook_deliveries_total{outcome="delivered"} 1');
    expect(metrics).toContain('entitle_webhook_queue_depth 0');
    expect(metrics).toContain('entitle_webhook_oldest_pending_seconds 0');
  });

  it('marks a delivery failed after the schedule, and disables the endpoint after the streak', async () => {
    await t.close();
    t = await buildTestApp({ env: { ...NO_RATE_LIMITS, ...SHORT, ENTITLE_WEBHOOKS_DISABLE_AFTER: '1' } });
    admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    await t.token('acme', 'amy');
    const id = await register(t, admin, receiver, ['entitlements.changed']);
    receiver.answer = () => 503;
    await setOverride('acme', 'can_use_sso', true);
    const log = await waitForLog(t, admin, id, (items) => items[0]?.status === 'failed');
    expect(log[0]).toMatchObject({ status: 'failed', attempts: 3, lastStatus: 503, nextAttemptAt: null });
    const endpoint = await t.app.inject({ method: 'GET', url: `/api/admin/webhooks/${id}`, headers: admin });
    expect(endpoint.json()).toMatchObject({ enabled: false, disabledReason: '1 deliveries in a row failed' });
    expect(receiver.deliveries).toHaveLength(3);
  });

  it('disables the endpoint at once on 410 Gone', async () => {
    await t.token('acme', 'amy');
    const id = await register(t, admin, receiver, ['entitlements.changed']);
    receiver.answer = () => 410;
    await setOverride('acme', 'can_use_sso', true);
    await waitForLog(t, admin, id, (items) => items[0]?.status === 'failed');
    const endpoint = await t.app.inject({ method: 'GET', url: `/api/admin/webhooks/${id}`, headers: admin });
    expect(endpoint.json()).toMatchObject({ enabled: false, disabledReason: 'the receiver answered 410 Gone' });
    expect(receiver.deliveries).toHaveLength(1);
  });

  it('replays one delivery with the same webhook-id, and a time range', async () => {
    await t.token('acme', 'amy');
    const id = await register(t, admin, receiver, ['entitlements.changed']);
    await setOverride('acme', 'can_use_sso', true);
    await setOverride('acme', 'can_remove_branding', true);
    await receiver.until((all) => all.length >= 2);
    const log = await waitForLog(
      t,
      admin,
      id,
      (items) => items.length === 2 && items.every((d) => d.status === 'delivered'),
    );
    const one = await t.app.inject({
      method: 'POST',
      url: `/api/admin/webhooks/${id}/replay`,
      headers: admin,
      payload: { deliveryId: log[1]?.id },
    });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual({ replayed: 1 });
    const again = await receiver.until((all) => all.length >= 3);
    expect(again[2]?.id).toBe(log[1]?.eventId);
    const range = await t.app.inject({
      method: 'POST',
      url: `/api/admin/webhooks/${id}/replay`,
      headers: admin,
      payload: { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' },
    });
    expect(range.json()).toEqual({ replayed: 2 });
    await receiver.until((all) => all.length >= 5);
    const missing = await t.app.inject({
      method: 'POST',
      url: `/api/admin/webhooks/${id}/replay`,
      headers: admin,
      payload: { deliveryId: 'dlv_nope' },
    });
    expect(missing.statusCode).toBe(404);
  });

  it('sends meter.threshold once at 80 % and once at 100 % of the allowance', async () => {
    const amy = t.auth(await t.token('acme', 'amy', { plan: 'pro' }));
    await register(t, admin, receiver, ['meter.threshold']);
    const consume = (amount: number) =>
      t.app.inject({
        method: 'POST',
        url: '/api/usage/consume',
        headers: amy,
        payload: { feature: 'sms_reminders_per_month', amount },
      });
    expect((await consume(399)).statusCode).toBe(200);
    expect((await consume(1)).statusCode).toBe(200);
    expect((await consume(50)).statusCode).toBe(200);
    expect((await consume(50)).statusCode).toBe(200);
    const all = await receiver.until((deliveries) => deliveries.length >= 2);
    expect(verified(all).map((event) => event.data)).toEqual([
      expect.objectContaining({
        tenantId: 'acme',
        feature: 'sms_reminders_per_month',
        threshold: 80,
        limit: 500,
        used: 400,
      }),
      expect.objectContaining({
        tenantId: 'acme',
        feature: 'sms_reminders_per_month',
        threshold: 100,
        limit: 500,
        used: 500,
      }),
    ]);
    await consume(1);
    await t.token('zeta', 'zed');
    expect(verified(receiver.deliveries, 'meter.threshold')).toHaveLength(2);
  });
});

describe('billing.subscription.changed', () => {
  it('follows a signed Stripe subscription event', async () => {
    const receiver = await startReceiver();
    const t = await buildBillingApp({ env: { ...NO_RATE_LIMITS, ...SHORT }, start: Date.now() });
    try {
      const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
      await t.token('acme', 'amy');
      await register(t, admin, receiver, ['billing.subscription.changed', 'entitlements.changed']);
      const event = eventObject('customer.subscription.created', subscriptionObject({ tenant: 'acme' }), {
        created: seconds(t.now),
      });
      expect((await t.deliver(event)).statusCode).toBe(200);
      const all = await receiver.until((deliveries) => deliveries.length >= 2);
      expect(all.every((delivery) => delivery.verifyError === undefined)).toBe(true);
      const billing = verified(all, 'billing.subscription.changed')[0];
      expect(billing?.data).toMatchObject({
        tenantId: 'acme',
        subscriptionId: 'sub_1',
        before: null,
        after: { status: 'active', customerId: 'cus_1' },
        plan: { before: 'free', after: 'pro' },
      });
      const changed = verified(all, 'entitlements.changed')[0];
      expect(changed?.data.cause).toMatchObject({ kind: 'billing.subscription.changed' });
      expect(changed?.data.changes).toContainEqual({ feature: 'can_use_sms_reminders', before: false, after: true });
    } finally {
      await t.close();
      await receiver.close();
    }
  });
});

/** The endpoint's delivery log once `done` holds (polled through the store's commits). */
async function waitForLog(
  t: TestApp,
  admin: { authorization: string },
  id: string,
  done: (items: Record<string, unknown>[]) => boolean,
): Promise<Record<string, unknown>[]> {
  for (;;) {
    const res = await t.app.inject({ method: 'GET', url: `/api/admin/webhooks/${id}/deliveries`, headers: admin });
    const items = res.json().items as Record<string, unknown>[];
    if (done(items)) return items;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('an override reaching its expiry', () => {
  it('sends entitlements.changed once, however many times (and instances) look', async () => {
    const receiver = await startReceiver();
    let shift = 0;
    const t = await buildTestApp({ env: { ...NO_RATE_LIMITS, ...SHORT }, clock: () => Date.now() + shift });
    try {
      const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
      await t.token('acme', 'amy');
      const expiresAt = new Date(Date.now() + 60_000).toISOString();
      await t.app.inject({
        method: 'PUT',
        url: '/api/admin/tenants/acme/overrides/can_use_sso',
        headers: admin,
        payload: { value: true, reason: 'trial', expiresAt },
      });
      await register(t, admin, receiver, ['entitlements.changed']);
      await t.app.entitle.maintenance.runAll();
      shift = 61_000;
      await t.app.entitle.maintenance.runAll();
      await t.app.entitle.maintenance.runAll();
      const [delivery] = await receiver.until((all) => all.length >= 1);
      expect(delivery?.event?.data).toMatchObject({
        tenantId: 'acme',
        changes: [{ feature: 'can_use_sso', before: true, after: false }],
        cause: { kind: 'override.expired', actor: 'system', feature: 'can_use_sso' },
      });
      // Another instance looking later finds it recorded: still one event.
      await t.app.entitle.maintenance.runAll();
      const { items } = (await t.app.inject({ method: 'GET', url: '/api/admin/webhooks', headers: admin })).json() as {
        items: { id: string }[];
      };
      const log = await t.app.entitle.store.outbox.deliveries(items[0]?.id ?? '');
      expect(log.items).toHaveLength(1);
    } finally {
      await t.close();
      await receiver.close();
    }
  });
});
