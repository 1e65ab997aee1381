// meter.reset when a meter's period rolls over by itself: one event per meter and period with
// usage in it, recorded once by whichever instance's sweep looks first, verified by a receiver
// using `standardwebhooks`.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { meterRolloverTask } from '../../src/webhooks/meter-rollover-events.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTestApp, NO_RATE_LIMITS, type TestApp } from '../support/app.js';
import { buildBillingApp } from '../support/billing.js';
import { copyPolicyDir } from '../support/policy.js';
import { eventObject, seconds, subscriptionObject } from '../support/stripe.js';
import { startReceiver, type Receiver } from '../support/webhook-receiver.js';

const SHORT = { ENTITLE_WEBHOOKS_RETRY_SCHEDULE: '20ms,20ms', ENTITLE_WEBHOOKS_ALLOW_PRIVATE: 'true' };
/** A minute before the end of a month (UTC), a little in the past: the receiver's clock is the same moved one. */
const MONTH_END = Date.parse('2026-12-01T00:00:00Z');

describe('a meter period rolling over', () => {
  let t: TestApp;
  let receiver: Receiver;
  // Only Date is faked, so the app, its store and the receiver all see the moved clock.
  beforeEach(() => void vi.useFakeTimers({ toFake: ['Date'], now: MONTH_END - 60_000 }));
  afterEach(async () => {
    await t.close();
    await receiver.close();
    vi.useRealTimers();
  });

  const anotherInstance = () =>
    meterRolloverTask({
      scans: t.app.entitle.store.webhookScans,
      snapshots: t.app.entitle.store.changes,
      outbox: t.app.entitle.store.outbox,
      policy: () => t.app.entitle.policy.snapshot,
    });

  it('sends meter.reset once for each meter with usage in the period that ended', async () => {
    t = await buildTestApp({ env: { ...NO_RATE_LIMITS, ...SHORT } });
    receiver = await startReceiver();
    const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    await t.token('acme', 'amy', { plan: 'pro' });
    await t.token('beta', 'bob', { plan: 'pro' });
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/admin/webhooks',
      headers: admin,
      payload: { url: receiver.url, events: ['meter.reset'] },
    });
    expect(res.statusCode).toBe(201);
    receiver.secrets = [res.json().secret];
    const endpoint = res.json().endpoint.id as string;
    // acme sends 3 SMS in November; beta sends none (no event for an unused period).
    const consumed = await t.app.entitle.meters.consume({
      tenantId: 'acme',
      feature: 'sms_reminders_per_month',
      amount: 3,
      context: { actor: 'test' },
    });
    expect(consumed.granted).toBe(true);
    await t.app.entitle.maintenance.runAll();
    expect((await t.app.entitle.store.outbox.deliveries(endpoint)).items).toEqual([]);

    vi.setSystemTime(MONTH_END + 30_000);
    await t.app.entitle.maintenance.runAll();
    const [delivery] = await receiver.until((all) => all.length >= 1);
    expect(delivery?.verifyError).toBeUndefined();
    expect(delivery?.event).toEqual({
      type: 'meter.reset',
      timestamp: expect.any(String),
      data: {
        tenantId: 'acme',
        sequence: expect.any(Number),
        feature: 'sms_reminders_per_month',
        periodStart: '2026-11-01T00:00:00.000Z',
        periodEnd: '2026-12-01T00:00:00.000Z',
        used: 3,
        allowance: 500,
        cause: 'period.ended',
      },
    });

    // The first consume of December, this instance again, another that never looked: still one.
    await t.app.entitle.meters.consume({
      tenantId: 'acme',
      feature: 'sms_reminders_per_month',
      amount: 1,
      context: { actor: 'test' },
    });
    await t.app.entitle.maintenance.runAll();
    expect(await anotherInstance().run(Date.now())).toBe(0);
    expect((await t.app.entitle.store.outbox.deliveries(endpoint)).items).toHaveLength(1);
  });

  it('pages through the counters of the period that ended', async () => {
    t = await buildTestApp({ env: { ...NO_RATE_LIMITS, ...SHORT } });
    receiver = await startReceiver();
    const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/admin/webhooks',
      headers: admin,
      payload: { url: receiver.url, events: ['meter.reset'] },
    });
    const endpoint = res.json().endpoint.id as string;
    const tenants = ['t1', 't2', 't3', 't4', 't5'];
    for (const [i, tenant] of tenants.entries()) {
      await t.token(tenant, 'amy', { plan: 'pro' });
      const context = { actor: 'test' };
      await t.app.entitle.meters.consume({
        tenantId: tenant,
        feature: 'sms_reminders_per_month',
        amount: i + 1,
        context,
      });
    }
    vi.setSystemTime(MONTH_END + 30_000);
    const task = meterRolloverTask({
      scans: t.app.entitle.store.webhookScans,
      snapshots: t.app.entitle.store.changes,
      outbox: t.app.entitle.store.outbox,
      policy: () => t.app.entitle.policy.snapshot,
      pageSize: 2,
    });
    expect(await task.run(Date.now())).toBe(5);
    const log = await t.app.entitle.store.outbox.deliveries(endpoint);
    expect(log.items.map((item) => item.tenantId).sort()).toEqual(tenants);
  });

  it('reads no counter when no endpoint wants meter.reset', async () => {
    t = await buildTestApp({ env: { ...NO_RATE_LIMITS, ...SHORT } });
    receiver = await startReceiver();
    await t.token('acme', 'amy', { plan: 'pro' });
    await t.app.entitle.meters.consume({
      tenantId: 'acme',
      feature: 'sms_reminders_per_month',
      amount: 3,
      context: { actor: 'test' },
    });
    vi.setSystemTime(MONTH_END + 30_000);
    const { store } = t.app.entitle;
    const countersStarted = vi.fn(store.webhookScans.countersStarted.bind(store.webhookScans));
    const task = meterRolloverTask({
      scans: { subscribedTypes: () => store.webhookScans.subscribedTypes(), countersStarted },
      snapshots: store.changes,
      outbox: store.outbox,
      policy: () => t.app.entitle.policy.snapshot,
    });
    expect(await task.run(Date.now())).toBe(0);
    expect(countersStarted).not.toHaveBeenCalled();
  });

  it('follows the billing cycle of a meter that resets with billing, not the calendar month', async () => {
    const dir = copyPolicyDir();
    const features = join(dir, 'features.yaml');
    writeFileSync(features, readFileSync(features, 'utf8').replace('reset: calendar', 'reset: billing'));
    const anchor = Date.parse('2026-11-15T10:00:00Z');
    vi.setSystemTime(Date.parse('2026-11-20T10:00:00Z'));
    const billing = await buildBillingApp({
      env: { ...NO_RATE_LIMITS, ...SHORT, ENTITLE_POLICIES: dir },
      start: Date.now(),
    });
    t = billing;
    receiver = await startReceiver();
    const moveTo = (ms: number) => {
      billing.now = ms;
      vi.setSystemTime(ms);
    };
    const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    await t.token('acme', 'amy');
    const subscription = subscriptionObject({
      tenant: 'acme',
      cycleAnchor: seconds(anchor),
      currentPeriodEnd: seconds(Date.parse('2026-12-15T10:00:00Z')),
    });
    expect(
      (
        await billing.deliver(
          eventObject('customer.subscription.created', subscription, { created: seconds(billing.now) }),
        )
      ).statusCode,
    ).toBe(200);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/admin/webhooks',
      headers: admin,
      payload: { url: receiver.url, events: ['meter.reset'] },
    });
    receiver.secrets = [res.json().secret];
    const endpoint = res.json().endpoint.id as string;
    await t.app.entitle.meters.consume({
      tenantId: 'acme',
      feature: 'sms_reminders_per_month',
      amount: 7,
      context: { actor: 'test' },
    });

    // The calendar month ends; the billing period (15 November to 15 December) goes on.
    moveTo(Date.parse('2026-12-01T00:00:30Z'));
    await t.app.entitle.maintenance.runAll();
    expect((await t.app.entitle.store.outbox.deliveries(endpoint)).items).toEqual([]);

    moveTo(Date.parse('2026-12-15T10:00:20Z'));
    await t.app.entitle.maintenance.runAll();
    const [delivery] = await receiver.until((all) => all.length >= 1);
    expect(delivery?.verifyError).toBeUndefined();
    expect(delivery?.event?.data).toMatchObject({
      tenantId: 'acme',
      feature: 'sms_reminders_per_month',
      periodStart: '2026-11-15T10:00:00.000Z',
      periodEnd: '2026-12-15T10:00:00.000Z',
      used: 7,
      allowance: 500,
      cause: 'period.ended',
    });
  });
});
