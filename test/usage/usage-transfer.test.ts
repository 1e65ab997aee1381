// Moving a store keeps metered usage: counters of every period, top-up grants, open reservations
// and idempotent answers travel in the dump, so no tenant gets its allowance back by a migration.

import { describe, expect, it } from 'vitest';
import { exportStore, importStore } from '../../src/store/transfer.js';
import { buildTestApp } from '../support/app.js';
import { testDatabase } from '../support/store.js';

const SMS = 'sms_reminders_per_month';
const JAN_15 = Date.parse('2026-01-15T12:00:00.000Z');

describe('moving a store with metered usage', () => {
  it('exports and imports counters, grants, reservations and idempotent answers', async () => {
    const t = await buildTestApp({ clock: () => JAN_15 });
    const target = testDatabase();
    const store = await target.open();
    try {
      const pro = t.auth(await t.token('acme', 'alice', { plan: 'pro' }));
      const admin = t.auth(await t.token('ops', 'root', { plan: 'free', role: 'admin' }));
      const post = (url: string, headers: { authorization: string }, payload: Record<string, unknown>) =>
        t.app.inject({ method: 'POST', url, headers, payload });
      expect(
        (await post('/api/usage/consume', pro, { feature: SMS, amount: 3, idempotencyKey: 'send-1' })).statusCode,
      ).toBe(200);
      expect(
        (await post('/api/usage/reserve', pro, { feature: SMS, amount: 2, ttlSeconds: 600, idempotencyKey: 'batch-1' }))
          .statusCode,
      ).toBe(200);
      expect(
        (await post(`/api/admin/tenants/acme/usage/${SMS}/grants`, admin, { amount: 50, reason: 'goodwill' }))
          .statusCode,
      ).toBe(201);

      const dump = JSON.parse(JSON.stringify(await exportStore(t.app.entitle.store)));
      expect(await importStore(store, dump, { actor: 'test:import' })).toMatchObject({
        usage_counters: 1,
        usage_grants: 1,
        usage_reservations: 1,
        usage_outcomes: 2,
      });
      const now = new Date(JAN_15).toISOString();
      expect(await store.usage.history('acme', SMS)).toEqual(await t.app.entitle.store.usage.history('acme', SMS));
      expect(await store.usage.grants('acme', SMS, now)).toEqual(
        await t.app.entitle.store.usage.grants('acme', SMS, now),
      );
      expect(
        await store.usage.figures({ tenantId: 'acme', feature: SMS, periodStart: '2026-01-01T00:00:00.000Z' }, now),
      ).toEqual(
        await t.app.entitle.store.usage.figures(
          { tenantId: 'acme', feature: SMS, periodStart: '2026-01-01T00:00:00.000Z' },
          now,
        ),
      );
    } finally {
      await store.close();
      await target.drop();
      await t.close();
    }
  });
});
