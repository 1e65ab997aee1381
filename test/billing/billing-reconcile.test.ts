import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BillingReconciler } from '../../src/billing/billing-reconciler.js';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe-fake.js';
import { buildBillingApp, type BillingTestApp } from '../support/billing.js';
import { runCliCaptured } from '../support/cli.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';
import { testDatabase, type TestDatabase } from '../support/store.js';
import { eventObject, seconds, subscriptionObject } from '../support/stripe.js';

describe('billing reconcile', () => {
  let fake: FakeStripe;
  let database: TestDatabase;
  let cwd: string;
  let t: BillingTestApp;
  let env: Record<string, string>;

  beforeEach(async () => {
    fake = await startFakeStripe();
    cwd = mkdtempSync(join(tmpdir(), 'entitle-reconcile-'));
    database = testDatabase(join(cwd, 'entitle.db'));
    env = {
      ...(database.env as Record<string, string>),
      ENTITLE_POLICIES: STARTER_POLICY_DIR,
      ENTITLE_SEED_DEMO: 'false',
      STRIPE_API_KEY: 'sk_test_fake',
      STRIPE_API_URL: fake.url,
    };
    t = await buildBillingApp({ env, start: Date.now() });
  });
  afterEach(async () => {
    await t.close();
    await fake.close();
    await database.drop();
  });

  const cli = (...args: string[]) => runCliCaptured(args, { env, cwd });

  /** acme on pro through a webhook; then Stripe cancels it and adds beta's subscription, and both events are lost. */
  async function drift(): Promise<void> {
    await t.token('acme');
    await t.token('beta');
    fake.put(subscriptionObject({ id: 'sub_a', customer: 'cus_a', tenant: 'acme' }));
    await t.deliver(
      eventObject(
        'customer.subscription.created',
        subscriptionObject({ id: 'sub_a', customer: 'cus_a', tenant: 'acme' }),
        { created: seconds(t.now) },
      ),
    );
    await t.app.entitle.store.billing.link('beta', 'stripe', 'cus_b', { actor: 'test:setup' });
    fake.put(subscriptionObject({ id: 'sub_a', customer: 'cus_a', tenant: 'acme', status: 'canceled' }));
    fake.put(subscriptionObject({ id: 'sub_b', customer: 'cus_b', prices: ['business_monthly'] }));
    fake.put(subscriptionObject({ id: 'sub_x', customer: 'cus_x', prices: ['pro_yearly'] }));
  }

  const planOf = async (tenant: string) => {
    await t.app.entitle.tenants.sync();
    const state = t.app.entitle.tenants.get(tenant);
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/admin/tenants/' + tenant,
      headers: t.auth(await t.token('ops', 'root', { role: 'admin' })),
    });
    return { stored: state?.plan, billing: res.json().billing?.plan ?? null };
  };

  it('reports drift with --dry-run and changes nothing', async () => {
    await drift();
    const { code, stdout } = await cli('billing', 'reconcile', '--dry-run', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ dryRun: true, checked: 3, fixed: 0 });
    expect(
      report.drift.map((d: { subscriptionId: string; kind: string; tenantId: string | null }) => [
        d.subscriptionId,
        d.kind,
        d.tenantId,
      ]),
    ).toEqual([
      ['sub_a', 'changed', 'acme'],
      ['sub_b', 'missing', 'beta'],
      ['sub_x', 'unlinked_customer', null],
    ]);
    expect(await planOf('acme')).toEqual({ stored: 'pro', billing: 'pro' });
    expect(await planOf('beta')).toEqual({ stored: 'free', billing: null });
  });

  it('fixes the drift, audited, and finds none on the next run', async () => {
    await drift();
    const { code, stdout } = await cli('billing', 'reconcile');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^checked 3 subscription\(s\): 3 drifted, 2 fixed\n/);
    expect(stdout).toMatch(/sub_x\s+cus_x\s+-\s+unlinked_customer/);
    expect(await planOf('acme')).toEqual({ stored: 'free', billing: 'free' });
    expect(await planOf('beta')).toEqual({ stored: 'business', billing: 'business' });
    const changes = (await t.app.entitle.store.audit.list({ action: 'billing.subscription.change' })).items;
    expect(
      changes
        .filter((row) => row.details?.eventId === 'reconcile')
        .map((row) => row.target)
        .sort(),
    ).toEqual(['subscription:sub_a', 'subscription:sub_b']);
    const again = JSON.parse((await cli('billing', 'reconcile', '--json')).stdout);
    expect(again.drift.map((d: { kind: string }) => d.kind)).toEqual(['unlinked_customer']);
  });

  it('links a tenant from the CLI, audited, and refuses a malformed customer id', async () => {
    await t.token('acme');
    expect(await cli('tenants', 'link-billing', 'acme', 'cus_cli1', '--actor', 'cli:ops')).toEqual({
      code: 0,
      stdout: 'tenant acme: billing none → stripe cus_cli1\n',
      stderr: '',
    });
    expect(await t.app.entitle.store.billing.tenantOfCustomer('stripe', 'cus_cli1')).toBe('acme');
    expect((await t.app.entitle.store.audit.list({ action: 'billing.link' })).items[0]).toMatchObject({
      actor: 'cli:ops',
      details: { before: null, after: { provider: 'stripe', customerId: 'cus_cli1' } },
    });
    expect((await cli('tenants', 'link-billing', 'acme', 'acme-corp')).code).toBe(2);
    expect(await cli('tenants', 'unlink-billing', 'acme')).toMatchObject({
      code: 0,
      stdout: 'tenant acme: unlinked from stripe cus_cli1\n',
    });
  });

  it('says what to set when no API key is configured', async () => {
    delete env.STRIPE_API_KEY;
    const { code, stderr } = await cli('billing', 'reconcile');
    expect(code).toBe(2);
    expect(stderr).toBe(
      'error: reconcile reads subscriptions from Stripe: set STRIPE_API_KEY (and STRIPE_API_URL for stripe-mock)\n',
    );
  });

  it('runs in one instance at a time: the other finds the lease taken until it lapses', async () => {
    await drift();
    const sync = t.app.entitle.billing;
    if (!sync) throw new Error('billing not configured');
    const store = t.app.entitle.store;
    const first = new BillingReconciler({ sync, store, intervalMs: 60_000 });
    const second = new BillingReconciler({ sync, store, intervalMs: 60_000 });
    const [one, two] = await Promise.all([first.runOnce(), second.runOnce()]);
    expect([one, two].filter((report) => report !== undefined)).toHaveLength(1);
    // The holder renews its own lease; the other gets it once it lapses (twice the interval).
    expect(await (one ? first : second).runOnce()).toBeDefined();
    expect(await (one ? second : first).runOnce()).toBeUndefined();
    t.now += 120_001;
    expect(await (one ? second : first).runOnce()).toBeDefined();
    await first.close();
    await second.close();
  });
});

describe('linking tenants to billing customers', () => {
  let t: BillingTestApp;
  beforeEach(async () => {
    t = await buildBillingApp();
  });
  afterEach(() => t.close());

  it('links through the admin API, shows the status on the tenant, refuses a customer linked elsewhere, unlinks', async () => {
    await t.token('acme');
    await t.token('beta');
    const admin = t.auth(await t.token('ops', 'root', { role: 'admin' }));
    const put = await t.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/acme/billing',
      headers: admin,
      payload: { provider: 'stripe', customerId: 'cus_7' },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ before: null, after: { provider: 'stripe', customerId: 'cus_7' } });
    await t.deliver(
      eventObject(
        'customer.subscription.created',
        subscriptionObject({ customer: 'cus_7', status: 'trialing', trialEnd: seconds(t.now) + 86_400 }),
        { created: seconds(t.now) },
      ),
    );
    const tenant = (await t.app.inject({ method: 'GET', url: '/api/admin/tenants/acme', headers: admin })).json();
    expect(tenant).toMatchObject({
      id: 'acme',
      plan: 'pro',
      billing: {
        provider: 'stripe',
        customerId: 'cus_7',
        plan: 'pro',
        cause: 'TRIAL',
        status: 'trialing',
        trial: { endsAt: new Date((seconds(t.now) + 86_400) * 1000).toISOString() },
      },
    });
    expect(tenant.billing.subscriptions).toEqual([
      {
        id: 'sub_1',
        status: 'trialing',
        prices: ['price_pro_monthly', 'pro_monthly'],
        currentPeriodEnd: '2026-12-31T00:00:00.000Z',
        cancelAtPeriodEnd: false,
        cancelAt: null,
        trialEnd: tenant.billing.trial.endsAt,
      },
    ]);
    const taken = await t.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/beta/billing',
      headers: admin,
      payload: { provider: 'stripe', customerId: 'cus_7' },
    });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toEqual({
      error: 'Billing customer "cus_7" is already linked to tenant "acme"',
      code: 'ENT_ERR_BILLING_LINK_CONFLICT',
    });
    const bad = await t.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/beta/billing',
      headers: admin,
      payload: { provider: 'stripe', customerId: 'acme' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/customerId/);
    const removed = await t.app.inject({ method: 'DELETE', url: '/api/admin/tenants/acme/billing', headers: admin });
    expect(removed.json()).toMatchObject({ before: { customerId: 'cus_7' } });
    expect((await t.app.entitle.store.audit.list({ action: 'billing.*' })).items.map((row) => row.action)).toEqual([
      'billing.unlink',
      'billing.subscription.change',
      'billing.link',
    ]);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/admin/tenants/nobody/billing', headers: admin })).statusCode,
    ).toBe(404);
  });
});
