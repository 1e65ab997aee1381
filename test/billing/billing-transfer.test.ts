import { describe, expect, it } from 'vitest';
import { exportStore, importStore } from '../../src/store/transfer.js';
import type { EntitleStore } from '../../src/store/store.js';
import { buildBillingApp, type BillingTestApp } from '../support/billing.js';
import { testDatabase } from '../support/store.js';
import { eventObject, seconds, subscriptionObject } from '../support/stripe.js';

/** A source app with tenant acme, and an empty target store: `work` runs, then both are closed. */
async function withStores(work: (t: BillingTestApp, store: EntitleStore) => Promise<void>): Promise<void> {
  const t = await buildBillingApp();
  const target = testDatabase();
  const store = await target.open();
  try {
    await t.token('acme');
    await work(t, store);
  } finally {
    await store.close();
    await target.drop();
    await t.close();
  }
}

describe('moving a store with billing', () => {
  it('exports and imports billing links, subscriptions and handled events', () =>
    withStores(async (t, store) => {
      await t.deliver(
        eventObject('customer.subscription.created', subscriptionObject({ tenant: 'acme', status: 'past_due' }), {
          id: 'evt_moved',
          created: seconds(t.now),
        }),
      );
      const dump = await exportStore(t.app.entitle.store);
      expect(await importStore(store, JSON.parse(JSON.stringify(dump)), { actor: 'test:import' })).toMatchObject({
        billing_links: 1,
        billing_subscriptions: 1,
        billing_events: 1,
      });
      expect(await store.billing.tenantOfCustomer('stripe', 'cus_1')).toBe('acme');
      expect(await store.billing.subscriptionsOf('acme')).toEqual(
        await t.app.entitle.store.billing.subscriptionsOf('acme'),
      );
      expect(await store.billing.processed('stripe', 'evt_moved')).toBe('applied');
    }));

  it('imports a dump written before billing existed, with no billing tables', () =>
    withStores(async (t, store) => {
      const dump = JSON.parse(JSON.stringify(await exportStore(t.app.entitle.store)));
      for (const table of ['billing_links', 'billing_subscriptions', 'billing_events']) delete dump.tables[table];
      expect(await importStore(store, dump, { actor: 'test:import' })).toMatchObject({ tenants: 1, billing_links: 0 });
    }));
});
