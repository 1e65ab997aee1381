// entitlements.changed when billing ends by the clock, with no Stripe event at that moment: a
// trial set to cancel at its end, a grace period running out. Recorded once by whichever
// instance looks first; a receiver verifying with `standardwebhooks` gets it.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { billingClockTask } from '../../src/webhooks/billing-clock-events.js';
import { NO_RATE_LIMITS } from '../support/app.js';
import { buildBillingApp, DAY_MS, type BillingTestApp } from '../support/billing.js';
import { eventObject, seconds, subscriptionObject } from '../support/stripe.js';
import { startReceiver, type Receiver } from '../support/webhook-receiver.js';

/** Where the clock starts; tests move it forward by days. */
const STARTED = Date.now();

const SHORT = { ENTITLE_WEBHOOKS_RETRY_SCHEDULE: '20ms,20ms', ENTITLE_WEBHOOKS_ALLOW_PRIVATE: 'true' };

describe('billing ending by the clock', () => {
  let t: BillingTestApp;
  let receiver: Receiver;
  // Only Date is faked: the receiver checks each webhook-timestamp against the same moved clock as the app's.
  beforeEach(() => void vi.useFakeTimers({ toFake: ['Date'], now: STARTED }));
  afterEach(async () => {
    await t.close();
    await receiver.close();
    vi.useRealTimers();
  });

  const moveTo = (ms: number) => {
    t.now = ms;
    vi.setSystemTime(ms);
  };

  /** acme on pro through `subscription`; the endpoint registered afterwards hears only what follows. */
  async function start(subscription: Parameters<typeof subscriptionObject>[0]) {
    t = await buildBillingApp({ env: { ...NO_RATE_LIMITS, ...SHORT }, start: STARTED });
    receiver = await startReceiver();
    const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    await t.token('acme', 'amy');
    const event = eventObject(
      'customer.subscription.created',
      subscriptionObject({ tenant: 'acme', ...subscription }),
      {
        created: seconds(t.now),
      },
    );
    expect((await t.deliver(event)).statusCode).toBe(200);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/admin/webhooks',
      headers: admin,
      payload: { url: receiver.url, events: ['entitlements.changed'] },
    });
    expect(res.statusCode).toBe(201);
    receiver.secrets = [res.json().secret];
    return res.json().endpoint.id as string;
  }

  /** Another instance's task: it has never looked, so it looks back a day. */
  const anotherInstance = () =>
    billingClockTask({
      scans: t.app.entitle.store.webhookScans,
      snapshots: t.app.entitle.store.changes,
      outbox: t.app.entitle.store.outbox,
      policy: () => t.app.entitle.policy.snapshot,
    });

  it('announces a trial set to cancel at its end when it ends, once', async () => {
    const trialEnd = Math.floor((STARTED + 2 * DAY_MS) / 1000) * 1000;
    const endpoint = await start({
      status: 'trialing',
      trialEnd: seconds(trialEnd),
      currentPeriodEnd: seconds(trialEnd),
      cancelAtPeriodEnd: true,
    });
    await t.app.entitle.maintenance.runAll();
    expect((await t.app.entitle.store.outbox.deliveries(endpoint)).items).toEqual([]);

    moveTo(trialEnd + 5_000);
    await t.app.entitle.maintenance.runAll();
    const [delivery] = await receiver.until((all) => all.length >= 1);
    expect(delivery?.verifyError).toBeUndefined();
    expect(delivery?.event?.data).toMatchObject({
      tenantId: 'acme',
      cause: {
        kind: 'billing.trial.ended',
        actor: 'system',
        subscriptionId: 'sub_1',
        at: new Date(trialEnd).toISOString(),
      },
    });
    expect(delivery?.event?.data.changes).toContainEqual({
      feature: 'can_use_sms_reminders',
      before: true,
      after: false,
    });

    // This instance again, and another that never looked: still the one event.
    await t.app.entitle.maintenance.runAll();
    expect(await anotherInstance().run(t.now)).toBe(0);
    expect((await t.app.entitle.store.outbox.deliveries(endpoint)).items).toHaveLength(1);
  });

  it('announces the end of a grace period after a failed payment', async () => {
    const endpoint = await start({ status: 'past_due' });
    const failedAt = t.now;
    moveTo(failedAt + 7 * DAY_MS - 1_000);
    await t.app.entitle.maintenance.runAll();
    expect((await t.app.entitle.store.outbox.deliveries(endpoint)).items).toEqual([]);

    moveTo(failedAt + 7 * DAY_MS + 1_000);
    expect(await anotherInstance().run(t.now)).toBe(1);
    const [delivery] = await receiver.until((all) => all.length >= 1);
    expect(delivery?.verifyError).toBeUndefined();
    expect(delivery?.event?.data).toMatchObject({
      tenantId: 'acme',
      cause: { kind: 'billing.grace.ended', actor: 'system', subscriptionId: 'sub_1' },
    });
    expect(delivery?.event?.data.changes).toContainEqual({ feature: 'max_booking_pages', before: 10, after: 1 });
    await t.app.entitle.maintenance.runAll();
    expect((await t.app.entitle.store.outbox.deliveries(endpoint)).items).toHaveLength(1);
  });
});
