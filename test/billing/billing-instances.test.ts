// Two instances on one database: the same delivery at the same moment is handled once, and a
// plan change made through one instance reaches the other through the change feed.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBillingApp, type BillingTestApp } from '../support/billing.js';
import { testDatabase, type TestDatabase } from '../support/store.js';
import { eventObject, seconds, subscriptionObject } from '../support/stripe.js';

describe('billing across two instances', () => {
  let database: TestDatabase;
  let a: BillingTestApp;
  let b: BillingTestApp;

  beforeEach(async () => {
    database = testDatabase(join(mkdtempSync(join(tmpdir(), 'entitle-billing-')), 'entitle.db'));
    a = await buildBillingApp({ env: database.env as Record<string, string> });
    b = await buildBillingApp({ env: database.env as Record<string, string> });
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    await database.drop();
  });

  it('handles a delivery that reaches both at the same moment exactly once', async () => {
    await a.token('acme');
    const event = eventObject('customer.subscription.created', subscriptionObject({ tenant: 'acme' }), {
      id: 'evt_race',
      created: seconds(a.now),
    });
    const answers = await Promise.all([a.deliver(event), b.deliver(event, { app: b.app })]);
    expect(answers.map((res) => res.statusCode)).toEqual([200, 200]);
    expect(answers.map((res) => res.json().duplicate).sort()).toEqual([false, true]);
    expect((await a.app.entitle.store.audit.list({ action: 'billing.subscription.change' })).items).toHaveLength(1);
    expect((await a.app.entitle.store.audit.list({ action: 'billing.link' })).items).toHaveLength(1);
    expect(await a.app.entitle.store.billing.processed('stripe', 'evt_race')).toBe('applied');
  });

  it('brings the plan billing set to the other instance through the change feed', async () => {
    const token = await a.token('acme');
    await b.app.entitle.tenants.sync();
    const entitlements = async (t: BillingTestApp) =>
      (await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) })).json();
    expect((await entitlements(b)).plan).toBe('free');
    await a.deliver(
      eventObject(
        'customer.subscription.created',
        subscriptionObject({ tenant: 'acme', prices: ['business_yearly'] }),
        { created: seconds(a.now) },
      ),
    );
    // Bounded: B follows on its feed's signal (polling on SQLite, NOTIFY on PostgreSQL).
    for (let i = 0; i < 50 && b.app.entitle.tenants.get('acme')?.billing === undefined; i++) {
      await new Promise((resolve) => b.app.entitle.tenants.once('change', resolve));
    }
    expect(await entitlements(b)).toMatchObject({ plan: 'business', billing: { cause: 'ACTIVE' } });
  });
});
