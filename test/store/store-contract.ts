// The store contract: the same tests for every store implementation.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChainVerifier } from '../../src/audit/audit-chain.js';
import type { EntitleStore } from '../../src/store/store.js';
import { describeCredentialContract } from './store-contract-credentials.js';

export interface StoreHarness {
  readonly store: EntitleStore;
  /** Makes the next audit insert fail inside its transaction. */
  breakAuditWrites(): Promise<void>;
  /** Changes a stored audit row behind the store's back. */
  tamperAuditRow(seq: number, actor: string): Promise<void>;
  /** Every row of every table, as text (see test/support/database-dump). */
  dump(): Promise<string>;
  close(): Promise<void>;
}

const ctx = { actor: 'test:operator' };

async function verifyAudit(store: EntitleStore) {
  const verifier = new ChainVerifier();
  await store.audit.scan((record) => verifier.visit(record));
  return verifier.result;
}

export function describeStoreContract(name: string, open: (clock: () => number) => Promise<StoreHarness>): void {
  describe(`store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: EntitleStore;
    let now: number;

    beforeEach(async () => {
      now = Date.parse('2030-01-01T00:00:00Z');
      harness = await open(() => now);
      store = harness.store;
    });
    afterEach(async () => {
      await harness.close();
    });

    describe('tenants', () => {
      it('creates, reads and changes the plan of a tenant', async () => {
        const created = await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, ctx);
        expect(created).toEqual({
          id: 'acme',
          name: 'Acme',
          plan: 'free',
          planVersion: 1,
          createdAt: '2030-01-01T00:00:00.000Z',
          updatedAt: '2030-01-01T00:00:00.000Z',
        });
        now += 1000;
        const { before, after } = await store.tenants.setPlan('acme', { plan: 'pro', planVersion: 3 }, ctx);
        expect(before.plan).toBe('free');
        expect(after).toEqual({ ...created, plan: 'pro', planVersion: 3, updatedAt: '2030-01-01T00:00:01.000Z' });
        expect(await store.tenants.get('acme')).toEqual(after);
        expect(await store.tenants.get('nobody')).toBeUndefined();
      });

      it('moves a tenant between versions of its plan once, audited, however often the move is asked for', async () => {
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'pro', planVersion: 1 }, ctx);
        await store.tenants.create({ id: 'beta', name: 'Beta', plan: 'pro', planVersion: 2 }, ctx);
        const move = { plan: 'pro', from: 1, to: 2 };
        const details = { loses: ['can_remove_branding'], gains: [] };
        expect(await store.tenants.migrateVersion('acme', move, ctx, details)).toMatchObject({ planVersion: 1 });
        expect(await store.tenants.migrateVersion('acme', move, ctx, details)).toBeUndefined();
        expect(await store.tenants.migrateVersion('beta', move, ctx, details)).toBeUndefined();
        expect((await store.tenants.get('acme'))?.planVersion).toBe(2);
        const migrations = (await store.audit.list({ action: 'tenant.plan.migrate' })).items;
        expect(migrations.map((record) => [record.tenantId, record.details])).toEqual([
          [
            'acme',
            {
              before: { plan: 'pro', planVersion: 1 },
              after: { plan: 'pro', planVersion: 2 },
              loses: ['can_remove_branding'],
              gains: [],
            },
          ],
        ]);
      });

      it('keeps add-ons with their quantities, audits each change and forgets them with the tenant', async () => {
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'pro' }, ctx);
        expect((await store.addons.set('acme', 'extra_calendars', 2, ctx)).before).toBeUndefined();
        expect((await store.addons.set('acme', 'extra_calendars', 3, ctx)).before?.quantity).toBe(2);
        await store.addons.set('acme', 'sms_pack', 1, ctx);
        expect((await store.addons.list('acme')).map(({ addon, quantity }) => [addon, quantity])).toEqual([
          ['extra_calendars', 3],
          ['sms_pack', 1],
        ]);
        const [loaded] = await store.changes.load(['acme']);
        expect(loaded?.addons?.map(({ addon, quantity }) => [addon, quantity])).toEqual([
          ['extra_calendars', 3],
          ['sms_pack', 1],
        ]);
        await store.addons.remove('acme', 'sms_pack', ctx);
        await expect(store.addons.remove('acme', 'sms_pack', ctx)).rejects.toMatchObject({
          code: 'ENT_ERR_ADDON_NOT_HELD',
          statusCode: 404,
        });
        await expect(store.addons.set('ghost', 'sms_pack', 1, ctx)).rejects.toMatchObject({
          code: 'ENT_ERR_TENANT_NOT_FOUND',
        });
        const actions = (await store.audit.list()).items.map((record) => record.action);
        // Newest first.
        expect(actions.filter((action) => action.startsWith('tenant.addon'))).toEqual([
          'tenant.addon.remove',
          'tenant.addon.set',
          'tenant.addon.set',
          'tenant.addon.set',
        ]);
        await store.tenants.delete('acme', ctx);
        expect(await store.addons.list('acme')).toEqual([]);
      });

      it('refuses a duplicate id and changes nothing', async () => {
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, ctx);
        await expect(store.tenants.create({ id: 'acme', name: 'Other', plan: 'pro' }, ctx)).rejects.toMatchObject({
          code: 'ENT_ERR_TENANT_EXISTS',
          statusCode: 409,
        });
        expect((await store.tenants.get('acme'))?.name).toBe('Acme');
        expect((await store.audit.list()).items).toHaveLength(1);
      });

      it('pages through tenants in id order with a cursor', async () => {
        for (const id of ['c', 'a', 'e', 'b', 'd']) await store.tenants.create({ id, name: id, plan: 'free' }, ctx);
        const first = await store.tenants.list({ limit: 2 });
        expect(first.items.map((t) => t.id)).toEqual(['a', 'b']);
        const second = await store.tenants.list({ limit: 2, after: first.nextCursor as string });
        expect(second.items.map((t) => t.id)).toEqual(['c', 'd']);
        const last = await store.tenants.list({ limit: 2, after: second.nextCursor as string });
        expect(last).toEqual({ items: [expect.objectContaining({ id: 'e' })] });
      });

      it('deletes a tenant with its overrides and keeps its audit rows', async () => {
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, ctx);
        await store.overrides.set(
          { tenantId: 'acme', feature: 'sync', value: true, reason: 'trial', expiresAt: null },
          ctx,
        );
        await store.tenants.delete('acme', ctx);
        expect(await store.tenants.get('acme')).toBeUndefined();
        expect(await store.overrides.list({ tenantId: 'acme' })).toEqual([]);
        expect((await store.audit.list({ tenantId: 'acme' })).items.map((r) => r.action)).toEqual([
          'tenant.delete',
          'override.set',
          'tenant.create',
        ]);
      });

      it('reports a missing tenant on change and delete', async () => {
        await expect(store.tenants.setPlan('ghost', { plan: 'pro', planVersion: 1 }, ctx)).rejects.toMatchObject({
          code: 'ENT_ERR_TENANT_NOT_FOUND',
          statusCode: 404,
        });
        await expect(store.tenants.delete('ghost', ctx)).rejects.toMatchObject({ code: 'ENT_ERR_TENANT_NOT_FOUND' });
      });
    });

    describe('overrides', () => {
      beforeEach(async () => {
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, ctx);
      });

      it('creates an override at version 1 and replaces it at version 2, returning before and after', async () => {
        const first = await store.overrides.set(
          { tenantId: 'acme', feature: 'sync', value: true, reason: 'trial', expiresAt: '2030-02-01T00:00:00.000Z' },
          ctx,
        );
        expect(first).toEqual({
          before: undefined,
          after: {
            tenantId: 'acme',
            feature: 'sync',
            value: true,
            reason: 'trial',
            actor: 'test:operator',
            expiresAt: '2030-02-01T00:00:00.000Z',
            createdAt: '2030-01-01T00:00:00.000Z',
            updatedAt: '2030-01-01T00:00:00.000Z',
            version: 1,
          },
        });
        now += 5000;
        const second = await store.overrides.set(
          { tenantId: 'acme', feature: 'sync', value: false, reason: 'abuse', expiresAt: null },
          { actor: 'other' },
        );
        expect(second.before).toEqual(first.after);
        expect(second.after).toMatchObject({
          value: false,
          version: 2,
          actor: 'other',
          createdAt: '2030-01-01T00:00:00.000Z',
          updatedAt: '2030-01-01T00:00:05.000Z',
        });
        expect(await store.overrides.get('acme', 'sync')).toEqual(second.after);
      });

      it('keeps numbers and strings as their types', async () => {
        await store.overrides.set({ tenantId: 'acme', feature: 'seats', value: 7, reason: 'r', expiresAt: null }, ctx);
        await store.overrides.set(
          { tenantId: 'acme', feature: 'tier', value: 'gold', reason: 'r', expiresAt: null },
          ctx,
        );
        expect((await store.overrides.list({ tenantId: 'acme' })).map((o) => o.value)).toEqual([7, 'gold']);
      });

      it('applies a write only at the version it was read at (If-Match), else 412 and no change', async () => {
        await store.overrides.set(
          { tenantId: 'acme', feature: 'sync', value: true, reason: 'trial', expiresAt: null },
          ctx,
        );
        await expect(
          store.overrides.set(
            { tenantId: 'acme', feature: 'sync', value: false, reason: 'stale', expiresAt: null },
            ctx,
            { ifVersion: 0 },
          ),
        ).rejects.toMatchObject({ code: 'ENT_ERR_VERSION_CONFLICT', statusCode: 412 });
        await expect(store.overrides.clear('acme', 'sync', ctx, { ifVersion: 2 })).rejects.toMatchObject({
          code: 'ENT_ERR_VERSION_CONFLICT',
        });
        expect(await store.overrides.get('acme', 'sync')).toMatchObject({ value: true, version: 1 });
        const applied = await store.overrides.set(
          { tenantId: 'acme', feature: 'sync', value: false, reason: 'fresh', expiresAt: null },
          ctx,
          { ifVersion: 1 },
        );
        expect(applied.after.version).toBe(2);
      });

      it('refuses an override for a missing tenant and stores nothing', async () => {
        await expect(
          store.overrides.set({ tenantId: 'ghost', feature: 'sync', value: true, reason: 'r', expiresAt: null }, ctx),
        ).rejects.toMatchObject({
          code: 'ENT_ERR_TENANT_NOT_FOUND',
        });
        expect(await store.overrides.list()).toEqual([]);
      });

      it('clears an override, and reports one that is not there', async () => {
        await store.overrides.set(
          { tenantId: 'acme', feature: 'sync', value: true, reason: 'trial', expiresAt: null },
          ctx,
        );
        expect(await store.overrides.clear('acme', 'sync', { ...ctx, reason: 'trial over' })).toMatchObject({
          value: true,
        });
        expect(await store.overrides.get('acme', 'sync')).toBeUndefined();
        await expect(store.overrides.clear('acme', 'sync', ctx)).rejects.toMatchObject({
          code: 'ENT_ERR_OVERRIDE_NOT_FOUND',
          statusCode: 404,
        });
      });

      it('leaves the store unchanged when the write fails inside its transaction', async () => {
        await harness.breakAuditWrites();
        await expect(
          store.overrides.set({ tenantId: 'acme', feature: 'sync', value: true, reason: 'r', expiresAt: null }, ctx),
        ).rejects.toMatchObject({
          code: 'ENT_ERR_STORE_UNAVAILABLE',
          statusCode: 503,
        });
        expect(await store.overrides.list()).toEqual([]);
      });
    });

    describe('audit log', () => {
      it('records every write with actor, target and before/after', async () => {
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, { actor: 'alice', requestId: 'req-1' });
        await store.overrides.set(
          { tenantId: 'acme', feature: 'sync', value: true, reason: 'trial', expiresAt: null },
          { actor: 'bob' },
        );
        await store.overrides.clear('acme', 'sync', { actor: 'carol', reason: 'done' });
        const { items } = await store.audit.list();
        expect(
          items.map(({ actor, tenantId, action, target, outcome }) => ({ actor, tenantId, action, target, outcome })),
        ).toEqual([
          { actor: 'carol', tenantId: 'acme', action: 'override.clear', target: 'feature:sync', outcome: 'success' },
          { actor: 'bob', tenantId: 'acme', action: 'override.set', target: 'feature:sync', outcome: 'success' },
          { actor: 'alice', tenantId: 'acme', action: 'tenant.create', target: 'tenant:acme', outcome: 'success' },
        ]);
        expect(items[0]?.details).toEqual({
          before: { value: true, reason: 'trial', expiresAt: null, actor: 'bob', version: 1 },
          after: null,
          reason: 'done',
        });
        expect(items[2]?.details).toMatchObject({ requestId: 'req-1' });
      });

      it('filters by tenant, action prefix and time, newest first, with a cursor', async () => {
        for (const id of ['a', 'b']) {
          await store.tenants.create({ id, name: id, plan: 'free' }, ctx);
          now += 1000;
        }
        await store.audit.append({
          actor: 'gate',
          tenantId: 'a',
          action: 'gate.denied',
          target: 'feature:sync',
          outcome: 'denied',
        });
        expect((await store.audit.list({ tenantId: 'a' })).items.map((r) => r.action)).toEqual([
          'gate.denied',
          'tenant.create',
        ]);
        expect((await store.audit.list({ action: 'tenant.*' })).items.map((r) => r.tenantId)).toEqual(['b', 'a']);
        expect((await store.audit.list({ since: '2030-01-01T00:00:01.000Z' })).items.map((r) => r.tenantId)).toEqual([
          'a',
          'b',
        ]);
        const page = await store.audit.list({ limit: 2 });
        expect(page.items).toHaveLength(2);
        expect(
          (await store.audit.list({ limit: 2, after: page.nextCursor as string })).items.map((r) => r.action),
        ).toEqual(['tenant.create']);
      });

      it('chains every row so that verification passes, and detects a changed row', async () => {
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, ctx);
        await store.tenants.setPlan('acme', { plan: 'pro', planVersion: 1 }, ctx);
        await store.audit.append({
          actor: 'gate',
          tenantId: 'acme',
          action: 'gate.denied',
          target: null,
          outcome: 'denied',
          details: { feature: 'sync' },
        });
        expect(await verifyAudit(store)).toEqual({
          ok: true,
          checked: 3,
          head: { seq: 3, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
        });
        await harness.tamperAuditRow(2, 'mallory');
        expect(await verifyAudit(store)).toEqual({
          ok: false,
          checked: 2,
          firstBroken: { seq: 2, problem: 'content does not match its hash (the row was changed)' },
        });
      });
    });

    describe('audit batches', () => {
      it('appends a batch in order on the same chain, in one transaction, without after-write hooks', async () => {
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, ctx);
        let hooks = 0;
        store.afterWrite(() => void hooks++);
        const read = (n: number) => ({
          actor: 'user:alice',
          tenantId: 'acme',
          action: 'connection.tokens.read',
          target: `connection:c${n}`,
          outcome: 'success' as const,
          details: { n },
        });
        const records = await store.audit.appendBatch([read(1), read(2), read(3)]);
        expect(records.map((record) => [record.seq, record.target])).toEqual([
          [2, 'connection:c1'],
          [3, 'connection:c2'],
          [4, 'connection:c3'],
        ]);
        expect(records[1]?.prevHash).toBe(records[0]?.hash);
        expect(hooks).toBe(0);
        expect(await store.audit.appendBatch([])).toEqual([]);
        expect(await verifyAudit(store)).toMatchObject({ ok: true, checked: 4 });
      });

      it('leaves the log unchanged when a batch cannot be written', async () => {
        await store.audit.append({ actor: 'a', tenantId: null, action: 'x', target: null, outcome: 'success' });
        await harness.breakAuditWrites();
        await expect(
          store.audit.appendBatch([
            { actor: 'a', tenantId: null, action: 'y', target: null, outcome: 'success' },
            { actor: 'a', tenantId: null, action: 'z', target: null, outcome: 'success' },
          ]),
        ).rejects.toMatchObject({ code: 'ENT_ERR_STORE_UNAVAILABLE' });
        expect((await store.audit.list()).items.map((record) => record.action)).toEqual(['x']);
      });
    });

    describeCredentialContract(() => ({ store, harness }));

    describe('change feed', () => {
      it('loads every tenant with its overrides and a cursor', async () => {
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'pro' }, ctx);
        await store.tenants.create({ id: 'globex', name: 'Globex', plan: 'free' }, ctx);
        await store.overrides.set(
          { tenantId: 'acme', feature: 'sync', value: false, reason: 'r', expiresAt: null },
          ctx,
        );
        const { cursor, tenants } = await store.changes.loadAll();
        expect(typeof cursor).toBe('string');
        expect(tenants.map((t) => [t.tenant.id, t.overrides.map((o) => o.feature)]).sort()).toEqual([
          ['acme', ['sync']],
          ['globex', []],
        ]);
      });

      it('names the tenants changed since a cursor, including deleted ones', async () => {
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'pro' }, ctx);
        await store.tenants.create({ id: 'globex', name: 'Globex', plan: 'free' }, ctx);
        const { cursor } = await store.changes.loadAll();
        expect(await store.changes.since(cursor)).toEqual({ cursor, tenantIds: [] });
        await store.overrides.set(
          { tenantId: 'acme', feature: 'sync', value: true, reason: 'r', expiresAt: null },
          ctx,
        );
        await store.tenants.delete('globex', ctx);
        const changes = await store.changes.since(cursor);
        expect('tenantIds' in changes && [...changes.tenantIds].sort()).toEqual(['acme', 'globex']);
        expect((await store.changes.load(['acme', 'globex'])).map((t) => t.tenant.id)).toEqual(['acme']);
      });

      it('runs after-write hooks before the write resolves', async () => {
        const seen: string[] = [];
        const remove = store.afterWrite(async () => {
          seen.push((await store.tenants.get('acme'))?.plan ?? 'none');
        });
        await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, ctx);
        expect(seen).toEqual(['free']);
        remove();
        await store.tenants.setPlan('acme', { plan: 'pro', planVersion: 1 }, ctx);
        expect(seen).toEqual(['free']);
      });
    });
  });
}
