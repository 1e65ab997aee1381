// The store contract, continued: the usage repository (counters, grants, reservations,
// idempotent outcomes and refunds). Called from describeStoreContract, so SQLite and
// PostgreSQL run the same tests.

import { beforeEach, describe, expect, it } from 'vitest';
import type { EntitleStore } from '../../src/store/store.js';
import type { ConsumeRequest, IdempotencyClaim, MeterKey } from '../../src/store/usage-repository.js';
import type { ContractState } from './store-contract-credentials.js';

const ctx = { actor: 'test:operator', requestId: 'req-1' };
const NOW = '2030-01-01T00:00:00.000Z';
const LATER = '2030-01-01T01:00:00.000Z';
const meter: MeterKey = { tenantId: 'acme', feature: 'sms', periodStart: '2030-01-01T00:00:00.000Z' };
const request = (amount: number, limit: number | null = 5, now = NOW): ConsumeRequest => ({
  meter,
  amount,
  limit,
  now,
  context: ctx,
});
const claim = (key: string, requestHash = `hash-${key}`): IdempotencyClaim => ({
  key,
  requestHash,
  expiresAt: '2030-01-02T00:00:00.000Z',
});

export function describeUsageContract(current: () => ContractState): void {
  describe('usage of meters', () => {
    let store: EntitleStore;

    beforeEach(async () => {
      ({ store } = current());
      await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, ctx);
    });

    const figures = () => store.usage.figures(meter, NOW);

    it('consumes within the limit with its sources and figures, and refuses past it changing nothing', async () => {
      expect(await store.usage.consume(request(4))).toEqual({
        replayed: false,
        outcome: {
          granted: true,
          figures: { counter: { used: 4, fromGrants: 0, reserved: 0 }, grantBalance: 0 },
          sources: { allowance: 4, grants: [] },
          crossed: [80],
        },
      });
      expect(await store.usage.consume(request(2))).toEqual({
        replayed: false,
        outcome: { granted: false, figures: { counter: { used: 4, fromGrants: 0, reserved: 0 }, grantBalance: 0 } },
      });
      expect(await figures()).toEqual({ counter: { used: 4, fromGrants: 0, reserved: 0 }, grantBalance: 0 });
    });

    it('takes from grants after the allowance, and gives back to where the units came from', async () => {
      const grant = await store.usage.grant(
        { tenantId: 'acme', feature: 'sms', amount: 3, reason: 'top-up', expiresAt: null },
        ctx,
      );
      const { outcome } = await store.usage.consume(request(7));
      expect(outcome).toMatchObject({
        granted: true,
        sources: { allowance: 5, grants: [{ id: grant.id, amount: 2 }] },
      });
      expect(await figures()).toEqual({ counter: { used: 5, fromGrants: 2, reserved: 0 }, grantBalance: 1 });
      if (!outcome.granted) throw new Error('granted above');
      await store.usage.giveBack(meter, outcome.sources, NOW);
      expect(await figures()).toEqual({ counter: { used: 0, fromGrants: 0, reserved: 0 }, grantBalance: 3 });
    });

    it('records an idempotent outcome with its key: a repeat replays it, another request with the key is a conflict', async () => {
      const first = await store.usage.consume(request(2), claim('k1'));
      expect(first.replayed).toBe(false);
      const again = await store.usage.consume(request(2), claim('k1'));
      expect(again).toEqual({ replayed: true, outcome: { ...first.outcome, crossed: [] } });
      await expect(store.usage.consume(request(3), claim('k1', 'another-hash'))).rejects.toMatchObject({
        code: 'ENT_ERR_IDEMPOTENCY_CONFLICT',
      });
      expect((await figures()).counter.used).toBe(2);
      // A refused consume is recorded too, by its figures only.
      const refused = await store.usage.consume(request(9), claim('k2'));
      expect(await store.usage.consume(request(9), claim('k2'))).toEqual({ ...refused, replayed: true });
    });

    describe('refunds', () => {
      it('undo a consume named by its key, at most what it took, once, audited', async () => {
        await store.usage.consume(request(3), claim('c1'));
        const refund = { tenantId: 'acme', feature: 'sms', key: 'c1', now: NOW, context: ctx };
        await expect(store.usage.refund({ ...refund, amount: 4 })).rejects.toMatchObject({
          code: 'ENT_ERR_REFUND_CONFLICT',
        });
        expect(await store.usage.refund({ ...refund, amount: 2 })).toEqual({
          meter,
          refunded: 2,
          sources: { allowance: 2, grants: [] },
          figures: { counter: { used: 1, fromGrants: 0, reserved: 0 }, grantBalance: 0 },
          replayed: false,
        });
        expect(await store.usage.refund({ ...refund, amount: 2 })).toMatchObject({ refunded: 2, replayed: true });
        await expect(store.usage.refund({ ...refund, amount: 1 })).rejects.toMatchObject({
          code: 'ENT_ERR_REFUND_CONFLICT',
        });
        expect((await figures()).counter.used).toBe(1);
        const audit = await store.audit.list({ action: 'usage.refund' });
        expect(audit.items.map((row) => row.details)).toEqual([
          {
            periodStart: meter.periodStart,
            idempotencyKey: 'c1',
            amount: 2,
            consumed: 3,
            requestId: 'req-1',
          },
        ]);
      });

      it('refuse a key that names no consume of the feature, or a refused one', async () => {
        const refund = { tenantId: 'acme', feature: 'sms', now: NOW, context: ctx };
        await expect(store.usage.refund({ ...refund, key: 'none' })).rejects.toMatchObject({
          code: 'ENT_ERR_CONSUME_NOT_FOUND',
        });
        await store.usage.consume(request(1), claim('other-feature'));
        await expect(store.usage.refund({ ...refund, feature: 'emails', key: 'other-feature' })).rejects.toMatchObject({
          code: 'ENT_ERR_CONSUME_NOT_FOUND',
        });
        await store.usage.consume(request(99), claim('refused'));
        await expect(store.usage.refund({ ...refund, key: 'refused' })).rejects.toMatchObject({
          code: 'ENT_ERR_REFUND_CONFLICT',
        });
        // A reservation's key is not a consume's.
        await store.usage.reserve({ ...request(1), expiresAt: LATER, holder: 'user:a@acme' }, claim('held'));
        await expect(store.usage.refund({ ...refund, key: 'held' })).rejects.toMatchObject({
          code: 'ENT_ERR_CONSUME_NOT_FOUND',
        });
      });
    });

    describe('reservations', () => {
      const reserve = async (amount: number, holder = 'user:a@acme') => {
        const { outcome } = await store.usage.reserve({ ...request(amount), expiresAt: LATER, holder });
        if (!outcome.granted) throw new Error('reservation refused');
        return outcome.reservation;
      };
      const end = (id: string, fields: Partial<Parameters<EntitleStore['usage']['endReservation']>[0]> = {}) =>
        store.usage.endReservation({
          tenantId: 'acme',
          id,
          end: { kind: 'commit' },
          limitOf: () => 5,
          now: NOW,
          context: ctx,
          ...fields,
        });

      it('hold units; a commit without an amount consumes all reserved, a partial one gives the rest back', async () => {
        const all = await reserve(2);
        expect(await figures()).toEqual({ counter: { used: 0, fromGrants: 0, reserved: 2 }, grantBalance: 0 });
        expect(await end(all.id)).toMatchObject({
          committed: 2,
          released: 0,
          figures: { counter: { used: 2, reserved: 0 } },
        });
        const part = await reserve(3);
        expect(await end(part.id, { end: { kind: 'commit', amount: 1 } })).toMatchObject({
          committed: 1,
          released: 2,
          figures: { counter: { used: 3, fromGrants: 0, reserved: 0 } },
        });
      });

      it('refuse what the allowance cannot cover, and a commit over the amount reserved', async () => {
        expect((await store.usage.reserve({ ...request(6), expiresAt: LATER, holder: 'x' })).outcome.granted).toBe(
          false,
        );
        const held = await reserve(2);
        await expect(end(held.id, { end: { kind: 'commit', amount: 3 } })).rejects.toMatchObject({
          code: 'ENT_ERR_INVALID_INPUT',
        });
        expect((await figures()).counter.reserved).toBe(2);
      });

      it('are found only by their holder when one is named, and an expired one can no longer be ended', async () => {
        const held = await reserve(1, 'user:a@acme');
        await expect(end(held.id, { holder: 'user:b@acme' })).rejects.toMatchObject({
          code: 'ENT_ERR_RESERVATION_NOT_FOUND',
        });
        await expect(end(held.id, { now: LATER })).rejects.toMatchObject({ code: 'ENT_ERR_RESERVATION_EXPIRED' });
        // Its units went back by themselves; asked again it is still expired, until the purge removes it.
        await expect(end(held.id, { now: LATER })).rejects.toMatchObject({ code: 'ENT_ERR_RESERVATION_EXPIRED' });
        expect(await store.usage.figures(meter, LATER)).toMatchObject({ counter: { used: 0, reserved: 0 } });
      });

      it('are listed while open, released by an operator (audited), and released by a reset', async () => {
        const first = await reserve(1);
        const second = await reserve(2);
        const listed = await store.usage.reservations('acme', NOW);
        // Made at the same moment: oldest first, then by id.
        expect(listed.map((r) => [r.id, r.amount, r.holder]).sort((a, b) => Number(a[1]) - Number(b[1]))).toEqual([
          [first.id, 1, 'user:a@acme'],
          [second.id, 2, 'user:a@acme'],
        ]);
        expect(await store.usage.reservations('acme', LATER)).toEqual([]);
        await end(first.id, { end: { kind: 'release' }, audited: true });
        expect((await store.audit.list({ action: 'usage.reservation.release' })).items).toHaveLength(1);
        await store.usage.consume(request(1));
        expect(await store.usage.reset(meter, ctx)).toEqual({
          before: { used: 1, fromGrants: 0, reserved: 2 },
          released: 2,
        });
        expect(await store.usage.reservations('acme', NOW)).toEqual([]);
        expect(await figures()).toEqual({ counter: { used: 0, fromGrants: 0, reserved: 0 }, grantBalance: 0 });
      });
    });

    it('purges expired outcomes and reservations', async () => {
      await store.usage.consume(request(1), claim('old'));
      await store.usage.reserve({ ...request(1), expiresAt: LATER, holder: 'x' });
      expect(await store.usage.purgeExpired('2030-01-03T00:00:00.000Z')).toBe(2);
      await expect(
        store.usage.refund({ tenantId: 'acme', feature: 'sms', key: 'old', now: NOW, context: ctx }),
      ).rejects.toMatchObject({ code: 'ENT_ERR_CONSUME_NOT_FOUND' });
    });
  });
}
