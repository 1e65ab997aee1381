// entitlements.changed for a policy reload, as a receiver verifying with `standardwebhooks` sees
// it: one event per tenant whose decisions the new policy changes, caused by policy.reload with
// the version; recorded once when two instances watch the same files, and paged through the store.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyEntry } from '../../src/secrets/encryption-keys.js';
import type { EntitleStore } from '../../src/store/store.js';
import { PolicyReloadEvents } from '../../src/webhooks/policy-reload-events.js';
import { buildTestApp, NO_RATE_LIMITS, type TestApp } from '../support/app.js';
import { copyPolicyDir, snapshotOf } from '../support/policy.js';
import { testDatabase, type TestDatabase } from '../support/store.js';
import { startReceiver, type Receiver } from '../support/webhook-receiver.js';

const SHORT = { ENTITLE_WEBHOOKS_RETRY_SCHEDULE: '20ms,20ms', ENTITLE_WEBHOOKS_ALLOW_PRIVATE: 'true' };

/** Pro gets 12 booking pages instead of 10 (a raise: the version guard lets it through). */
function raiseProBookingPages(dir: string): void {
  const path = join(dir, 'plans.yaml');
  writeFileSync(path, readFileSync(path, 'utf8').replace('max_booking_pages: 10', 'max_booking_pages: 12'));
}

async function register(t: TestApp, admin: { authorization: string }, receiver: Receiver, events: string[]) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/admin/webhooks',
    headers: admin,
    payload: { url: receiver.url, events },
  });
  expect(res.statusCode).toBe(201);
  receiver.secrets = [res.json().secret];
  return res.json().endpoint.id as string;
}

describe('a policy reload', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const closing of open.splice(0).reverse()) await closing.close();
  });

  async function setUp(env: Record<string, string> = {}) {
    const dir = copyPolicyDir();
    const t = await buildTestApp({ env: { ...NO_RATE_LIMITS, ...SHORT, ENTITLE_POLICIES: dir, ...env } });
    open.push(t);
    const receiver = await startReceiver();
    open.push(receiver);
    const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    await t.token('acme', 'amy', { plan: 'pro' });
    await t.token('beta', 'bob', { plan: 'free' });
    await t.token('gamma', 'gus', { plan: 'pro' });
    // gamma's own number of booking pages: the new plan value does not reach it.
    const override = await t.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/gamma/overrides/max_booking_pages',
      headers: admin,
      payload: { value: 3, reason: 'contract' },
    });
    expect(override.statusCode).toBeLessThan(300);
    return { dir, t, receiver, admin };
  }

  it('sends entitlements.changed to each tenant it changes, caused by policy.reload with both versions', async () => {
    const { dir, t, receiver, admin } = await setUp();
    const endpoint = await register(t, admin, receiver, ['entitlements.changed']);
    const previous = t.app.entitle.policy.snapshot.version;
    raiseProBookingPages(dir);
    await t.app.entitle.policy.reload();
    await t.app.entitle.policyReloadEvents.settled();
    const version = t.app.entitle.policy.snapshot.version;
    expect(version).not.toBe(previous);

    const [delivery] = await receiver.until((all) => all.length >= 1);
    expect(delivery?.verifyError).toBeUndefined();
    expect(delivery?.event).toEqual({
      type: 'entitlements.changed',
      timestamp: expect.any(String),
      data: {
        tenantId: 'acme',
        sequence: expect.any(Number),
        changes: [{ feature: 'max_booking_pages', before: 10, after: 12 }],
        cause: { kind: 'policy.reload', actor: 'system', policyVersion: version, previousPolicyVersion: previous },
      },
    });
    // beta (free) and gamma (its override) decide as before: no event for them.
    expect((await t.app.entitle.store.outbox.deliveries(endpoint)).items.map((item) => item.tenantId)).toEqual([
      'acme',
    ]);
  });

  it('records nothing when no endpoint wants entitlements.changed', async () => {
    const { dir, t, receiver, admin } = await setUp();
    const endpoint = await register(t, admin, receiver, ['meter.reset']);
    const before = t.app.entitle.policy.snapshot;
    raiseProBookingPages(dir);
    await t.app.entitle.policy.reload();
    await t.app.entitle.policyReloadEvents.settled();
    expect(t.app.entitle.policy.snapshot.version).not.toBe(before.version);
    expect(await t.app.entitle.policyReloadEvents.reloaded(t.app.entitle.policy.snapshot, before)).toBe(0);
    expect((await t.app.entitle.store.outbox.deliveries(endpoint)).items).toEqual([]);
  });

  it('is recorded once per tenant when two instances watching the same files both announce it', async () => {
    const db = testDatabase(join(mkdtempSync(join(tmpdir(), 'entitle-reload-')), 'entitle.db'));
    open.push({ close: () => db.drop() });
    // One deployment: one database and the same keys (each instance opens the endpoint's sealed secret).
    const env = { ...db.env, ENTITLE_ENCRYPTION_KEYS: generateKeyEntry('hooks') };
    const { dir, t, receiver, admin } = await setUp(env);
    const other = await buildTestApp({ env: { ...NO_RATE_LIMITS, ...SHORT, ENTITLE_POLICIES: dir, ...env } });
    open.push(other);
    await other.token('delta', 'dan', { plan: 'pro' });
    const endpoint = await register(t, admin, receiver, ['entitlements.changed']);
    raiseProBookingPages(dir);
    // Both notice the files and announce, each from its own connection: at the same time on
    // PostgreSQL; one after the other on SQLite, where two connections of one process would wait
    // for each other's write lock synchronously (two processes do not).
    const announce = async (app: TestApp) => {
      await app.app.entitle.policy.reload();
      await app.app.entitle.policyReloadEvents.settled();
    };
    if (db.kind === 'postgres') await Promise.all([announce(t), announce(other)]);
    else for (const app of [t, other]) await announce(app);
    expect(other.app.entitle.policy.snapshot.version).toBe(t.app.entitle.policy.snapshot.version);

    const log = await t.app.entitle.store.outbox.deliveries(endpoint);
    expect(log.items.map((item) => item.tenantId).sort()).toEqual(['acme', 'delta']);
    const arrived = await receiver.until((all) => new Set(all.map((delivery) => delivery.id)).size >= 2);
    expect(arrived.every((delivery) => delivery.verifyError === undefined)).toBe(true);
    expect(new Set(arrived.map((delivery) => delivery.event?.data.tenantId))).toEqual(new Set(['acme', 'delta']));
  });
});

describe('announcing a reload through the store', () => {
  let db: TestDatabase;
  const stores: EntitleStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    await db.drop();
  });

  const policy = (pages: number) =>
    snapshotOf(`
features:
  booking_pages: { name: Booking pages, description: Pages, type: number, default: 1, upgradeMessage: Upgrade. }
  sso: { name: SSO, description: Sign-on, type: boolean, default: false, upgradeMessage: Upgrade. }
plans:
  free: { name: Free, features: {} }
  pro: { name: Pro, features: { booking_pages: ${pages}, sso: true } }
`);

  /** Two stores on one database with seven tenants (t0, t2, t4, t6 on pro) and an endpoint for entitlements.changed. */
  const twoInstances = async (): Promise<[EntitleStore, EntitleStore]> => {
    db = testDatabase(join(mkdtempSync(join(tmpdir(), 'entitle-reload-')), 'entitle.db'));
    const [a, b] = [await db.open(), await db.open()];
    stores.push(a, b);
    for (let i = 0; i < 7; i++)
      await a.tenants.create({ id: `t${i}`, name: `T${i}`, plan: i % 2 === 0 ? 'pro' : 'free' }, { actor: 'test' });
    await a.webhooks.create(
      { id: 'ep_1', url: 'https://example.test/hook', events: ['entitlements.changed'], description: '', secret: 's' },
      { actor: 'test' },
      10,
    );
    return [a, b];
  };

  it('pages through the tenants and records each changed tenant once, and again when a version comes back', async () => {
    const [a, b] = await twoInstances();
    const announcer = (store: EntitleStore) =>
      new PolicyReloadEvents({
        tenants: store.tenants,
        snapshots: store.changes,
        scans: store.webhookScans,
        outbox: store.outbox,
        clock: Date.now,
        pageSize: 2,
      });
    const [first, second] = [announcer(a), announcer(b)];
    const [v10, v20] = [policy(10), policy(20)];

    // At the same time on PostgreSQL; one after the other on SQLite (see above).
    const counts =
      db.kind === 'postgres'
        ? await Promise.all([first.reloaded(v20, v10), second.reloaded(v20, v10)])
        : [await first.reloaded(v20, v10), await second.reloaded(v20, v10)];
    expect(counts.reduce((sum, count) => sum + count, 0)).toBe(4);
    const log = await a.outbox.deliveries('ep_1');
    expect(log.items.map((item) => item.tenantId).sort()).toEqual(['t0', 't2', 't4', 't6']);

    // Back to 10, then 20 again: two more reloads, each announced once more.
    expect(await second.reloaded(v10, v20)).toBe(4);
    expect(await first.reloaded(v20, v10)).toBe(4);
    expect(await second.reloaded(v20, v10)).toBe(0);
    expect((await a.outbox.deliveries('ep_1')).items).toHaveLength(12);
  });
  it('stops after the page in progress when its instance closes, leaving the rest to another that noticed the reload', async () => {
    const [a, b] = await twoInstances();
    const common = { scans: a.webhookScans, clock: Date.now, pageSize: 2 };
    // The closing instance: told to close once its first page is recorded.
    const closing: PolicyReloadEvents = new PolicyReloadEvents({
      ...common,
      tenants: a.tenants,
      snapshots: a.changes,
      outbox: {
        recordOnce: async (drafts) => {
          const recorded = await a.outbox.recordOnce(drafts);
          void closing.close();
          return recorded;
        },
      },
    });
    const other = new PolicyReloadEvents({
      ...common,
      scans: b.webhookScans,
      tenants: b.tenants,
      snapshots: b.changes,
      outbox: b.outbox,
    });
    const [v10, v20] = [policy(10), policy(20)];
    expect(await closing.reloaded(v20, v10)).toBe(1);
    expect(await other.reloaded(v20, v10)).toBe(3);
    const log = await a.outbox.deliveries('ep_1');
    expect(log.items.map((item) => item.tenantId).sort()).toEqual(['t0', 't2', 't4', 't6']);
  });
});
