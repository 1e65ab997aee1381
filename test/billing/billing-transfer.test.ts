import { describe, expect, it } from 'vitest';
import { exportStore, importStore } from '../../src/store/transfer.js';
import { buildBillingApp } from '../support/billing.js';
import { testDatabase } from '../support/store.js';
import { eventObject, seconds, subscriptionObject } from '../support/stripe.js';

describe('moving a store with billing', () => {
  it('exports and imports billing links, subscriptions and handled events', async () => {
    const t = await buildBillingApp();
    const target = testDatabase();
    const store = await target.open();
    try {
      await t.token('acme');
      await t.deliver(eventObject('customer.subscription.created', subscriptionObject({ tenant: 'acme', status: 'past_due' }), { id: 'evt_moved', created: seconds(t.now) }));
      const dump = await exportStore(t.app.entitle.store);
      expect(await importStore(store, JSON.parse(JSON.stringify(dump)), { actor: 'test:import' })).toMatchObject({ billing_links: 1, billing_subscriptions: 1, billing_events: 1 });
      expect(await store.billing.tenantOfCustomer('stripe', 'cus_1')).toBe('acme');
      expect(await store.billing.subscriptionsOf('acme')).toEqual(await t.app.entitle.store.billing.subscriptionsOf('acme'));
      expect(await store.billing.processed('stripe', 'evt_moved')).toBe('applied');
    } finally {
      await store.close();
      await target.drop();
      await t.close();
    }
  });

  it('imports a dump written before billing existed, with no billing tables', async () => {
    const t = await buildBillingApp();
    const target = testDatabase();
    const store = await target.open();
    try {
      await t.token('acme');
      const dump = JSON.parse(JSON.stringify(await exportStore(t.app.entitle.store)));
      for (const table of ['billing_links', 'billing_subscriptions', 'billing_events']) delete dump.tables[table];
      expect(await importStore(store, dump, { actor: 'test:import' })).toMatchObject({ tenants: 1, billing_links: 0 });
    } finally {
      await store.close();
      await target.drop();
      await t.close();
    }
  });
});
