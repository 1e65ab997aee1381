// A meter with `reset: billing`, end to end: a signed Stripe webhook creates the subscription
// (cycle anchor on the 31st), consumes over HTTP use up the allowance, the 403 names the next
// anchored boundary (clamped to February's last day), and the allowance comes back exactly there.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBillingApp, type BillingTestApp } from '../support/billing.js';
import { copyPolicyDir } from '../support/policy.js';
import { eventObject, seconds, subscriptionObject } from '../support/stripe.js';

const SMS = 'sms_reminders_per_month';
const ANCHOR = '2026-01-31T10:00:00.000Z';
/** Where the anchor falls in February: its last day, at the anchor's time. */
const FEBRUARY_BOUNDARY = '2026-02-28T10:00:00.000Z';

/** The starter policy with SMS counted from the billing cycle, and a Pro allowance small enough to use up. */
function billingCyclePolicy(): string {
  const directory = copyPolicyDir();
  const edit = (file: string, from: string, to: string) => {
    const path = join(directory, file);
    const text = readFileSync(path, 'utf8');
    if (!text.includes(from)) throw new Error(`${file} has no "${from}"`);
    writeFileSync(path, text.replace(from, to));
  };
  edit('features.yaml', 'reset: calendar', 'reset: billing');
  edit('plans.yaml', 'sms_reminders_per_month: 500', 'sms_reminders_per_month: 3');
  return directory;
}

describe('a meter that resets with the billing cycle, through a real subscription', () => {
  let t: BillingTestApp;
  let acme: { authorization: string };

  beforeEach(async () => {
    t = await buildBillingApp({
      env: { ENTITLE_POLICIES: billingCyclePolicy() },
      start: Date.parse('2026-02-10T12:00:00.000Z'),
    });
    acme = t.auth(await t.token('acme'));
    const subscription = subscriptionObject({
      tenant: 'acme',
      prices: ['pro_monthly'],
      cycleAnchor: seconds(Date.parse(ANCHOR)),
      currentPeriodEnd: seconds(Date.parse(FEBRUARY_BOUNDARY)),
    });
    const delivered = await t.deliver(
      eventObject('customer.subscription.created', subscription, { created: seconds(t.now) }),
    );
    expect(delivered.json()).toMatchObject({ received: true, outcome: 'applied' });
  });
  afterEach(() => t.close());

  const consume = (headers: { authorization: string }) =>
    t.app.inject({ method: 'POST', url: '/api/usage/consume', headers, payload: { feature: SMS, amount: 1 } });
  const entitlements = async (headers: { authorization: string }) =>
    (await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers })).json();

  it('refuses past the allowance until the next anchored boundary, clamped to the end of February, and grants again from it', async () => {
    const before = await entitlements(acme);
    expect(before).toMatchObject({ plan: 'pro', billing: { cause: 'ACTIVE' } });
    expect(before.features[SMS]).toMatchObject({ limit: 3, used: 0, remaining: 3, resetsAt: FEBRUARY_BOUNDARY });

    const granted = [];
    for (let i = 0; i < 3; i++) granted.push(await consume(acme));
    expect(granted.map((res) => res.statusCode)).toEqual([200, 200, 200]);
    expect(granted[2]?.json()).toMatchObject({
      used: 3,
      remaining: 0,
      periodStart: ANCHOR,
      resetsAt: FEBRUARY_BOUNDARY,
    });

    const refused = await consume(acme);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({
      error: 'Limit reached',
      code: 'ENT_ERR_LIMIT_REACHED',
      limit: 3,
      used: 3,
      remaining: 0,
      periodStart: ANCHOR,
      resetsAt: FEBRUARY_BOUNDARY,
      requiredPlan: 'business',
    });

    // The last millisecond of the period is still in it; the boundary itself starts the next.
    t.now = Date.parse(FEBRUARY_BOUNDARY) - 1;
    expect((await consume(acme)).json()).toMatchObject({ remaining: 0, resetsAt: FEBRUARY_BOUNDARY });
    t.now = Date.parse(FEBRUARY_BOUNDARY);
    const next = await consume(acme);
    expect(next.statusCode).toBe(200);
    expect(next.json()).toMatchObject({
      granted: true,
      used: 1,
      remaining: 2,
      periodStart: FEBRUARY_BOUNDARY,
      resetsAt: '2026-03-31T10:00:00.000Z',
    });
    expect((await entitlements(acme)).features[SMS]).toMatchObject({
      limit: 3,
      used: 1,
      remaining: 2,
      resetsAt: '2026-03-31T10:00:00.000Z',
    });
  });

  it('counts calendar months for a tenant on the same plan without a subscription', async () => {
    const solo = t.auth(await t.token('solo', 'sam', { plan: 'pro' }));
    const res = await consume(solo);
    expect(res.json()).toMatchObject({
      granted: true,
      limit: 3,
      used: 1,
      periodStart: '2026-02-01T00:00:00.000Z',
      resetsAt: '2026-03-01T00:00:00.000Z',
    });
    expect((await entitlements(solo)).features[SMS]).toMatchObject({ resetsAt: '2026-03-01T00:00:00.000Z' });
  });
});
