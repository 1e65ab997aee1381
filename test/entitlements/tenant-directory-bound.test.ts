import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenFeature } from '@openfeature/server-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { EntitleProvider } from '../../src/entitlements/entitle-provider.js';
import { DEFAULT_MAX_TENANTS, TenantDirectory, type TenantChange } from '../../src/entitlements/tenant-directory.js';
import type { ChangeFeed, EntitleStore } from '../../src/store/store.js';
import { buildTestApp } from '../support/app.js';
import { snapshotOf, TestPolicySource } from '../support/policy.js';
import { testDatabase } from '../support/store.js';

const POLICY = {
  features: {
    sync: { name: 'Sync', description: 'Calendar sync.', type: 'boolean', default: false, upgradeMessage: 'Upgrade.' },
  },
  plans: { free: {}, pro: { features: { sync: true } } },
};

/** A feed over a real store that records each read of tenants, and can hold the next read of one tenant after it has read. */
function watchedFeed(store: EntitleStore) {
  const reads: string[][] = [];
  let hold: { id: string; reached: () => void; release: Promise<void> } | undefined;
  const feed: ChangeFeed = {
    head: () => store.changes.head(),
    page: (after, limit) => store.changes.page(after, limit),
    since: (cursor) => store.changes.since(cursor),
    watch: (signal, health) => store.changes.watch(signal, health),
    loadAll: () => store.changes.loadAll(),
    load: async (ids) => {
      reads.push([...ids]);
      const snapshots = await store.changes.load(ids);
      const held = hold;
      if (held && ids.length === 1 && ids[0] === held.id) {
        hold = undefined;
        held.reached();
        await held.release;
      }
      return snapshots;
    },
  };
  /** Holds the next read of `id` once it has read; resolves `reached` then, and the read returns on `release()`. */
  const holdNextRead = (id: string) => {
    let release!: () => void;
    let reached!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    hold = { id, reached, release: new Promise<void>((resolve) => (release = resolve)) };
    return { reached: reachedPromise, release };
  };
  return { feed, reads, holdNextRead };
}

describe('a tenant directory bounded by maxTenants', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of cleanup.splice(0).reverse()) await close();
  });

  /** A store on a fresh database (a file on SQLite: another store on it is another process), with these tenants. */
  async function storeWith(tenants: readonly { id: string; plan: string }[]) {
    const database = testDatabase(join(mkdtempSync(join(tmpdir(), 'entitle-bound-')), 'entitle.db'));
    cleanup.push(() => database.drop());
    const store = await database.open();
    cleanup.push(() => store.close());
    for (const { id, plan } of tenants) await store.tenants.create({ id, name: id, plan }, { actor: 't' });
    const another = async () => {
      const other = await database.open();
      cleanup.push(() => other.close());
      return other;
    };
    return Object.assign(store, { another });
  }

  async function directoryOn(store: EntitleStore, maxTenants: number) {
    const watched = watchedFeed(store);
    const directory = await TenantDirectory.open(
      { changes: watched.feed, afterWrite: (hook) => store.afterWrite(hook) },
      { maxTenants },
    );
    cleanup.push(() => directory.close());
    return { directory, ...watched };
  }

  const FOUR = ['t1', 't2', 't3', 't4'].map((id) => ({ id, plan: 'free' }));

  it('keeps at most maxTenants in memory, the least recently used leaving first', async () => {
    const store = await storeWith(FOUR);
    const { directory, reads } = await directoryOn(store, 3);
    for (const id of ['t1', 't2', 't3']) await directory.load(id);
    directory.get('t1');
    await directory.load('t4');
    expect(directory.size).toBe(3);
    expect(['t1', 't2', 't3', 't4'].map((id) => directory.has(id))).toEqual([true, false, true, true]);
    expect(directory.get('t2')).toBeUndefined();
    expect(await directory.load('t2')).toMatchObject({ id: 't2', plan: 'free' });
    expect(directory.has('t3')).toBe(false);
    expect(reads).toEqual([['t1'], ['t2'], ['t3'], ['t4'], ['t2']]);
  });

  it('reads a tenant not in memory once, for every first use at the same time, and knows an unknown one after one read', async () => {
    const store = await storeWith([{ id: 'acme', plan: 'pro' }]);
    const { directory, reads } = await directoryOn(store, 10);
    const [a, b, c] = await Promise.all([directory.load('acme'), directory.load('acme'), directory.load('acme')]);
    expect(a).toMatchObject({ id: 'acme', plan: 'pro' });
    expect([b, c]).toEqual([a, a]);
    expect(await directory.load('nobody')).toBeUndefined();
    expect(await directory.load('nobody')).toBeUndefined();
    expect(directory.get('acme')).toBe(a);
    expect(reads).toEqual([['acme'], ['nobody']]);
  });

  it('reads again a tenant whose change arrives while its first read is in flight: the older state is never kept', async () => {
    const store = await storeWith([
      { id: 'busy', plan: 'free' },
      { id: 'acme', plan: 'free' },
    ]);
    const { directory, reads, holdNextRead } = await directoryOn(store, 1);
    await directory.load('busy');
    const held = holdNextRead('acme');
    const first = directory.load('acme');
    await held.reached;
    // Read as free; the plan changes before that read returns, and the write's sync finds it in flight.
    await store.tenants.setPlan('acme', { plan: 'pro', planVersion: 1 }, { actor: 't' });
    held.release();
    expect(await first).toMatchObject({ id: 'acme', plan: 'pro' });
    expect(directory.get('acme')).toMatchObject({ plan: 'pro' });
    expect(reads.filter((ids) => ids.includes('acme'))).toEqual([['acme'], ['acme']]);
  });

  it('reads nothing for a change to a tenant not in memory when it is full, and reads the new state on next use', async () => {
    const store = await storeWith([
      { id: 'busy', plan: 'free' },
      { id: 'acme', plan: 'free' },
    ]);
    const { directory, reads } = await directoryOn(store, 1);
    await directory.load('busy');
    const other = await store.another();
    const changed = new Promise<TenantChange>((resolve) => directory.once('change', resolve));
    await other.tenants.setPlan('acme', { plan: 'pro', planVersion: 1 }, { actor: 'another process' });
    // Every decision kept elsewhere (caches, streams) for it is dropped: all its features may change.
    expect(await changed).toEqual({ tenantIds: ['acme'], features: 'all' });
    expect(reads).toEqual([['busy']]);
    expect(await directory.load('acme')).toMatchObject({ plan: 'pro' });
  });

  it('refreshes a tenant in memory when another process changes it', async () => {
    const store = await storeWith([{ id: 'acme', plan: 'free' }]);
    const { directory } = await directoryOn(store, 1);
    await directory.load('acme');
    const other = await store.another();
    const changed = new Promise<TenantChange>((resolve) => directory.once('change', resolve));
    await other.tenants.setPlan('acme', { plan: 'pro', planVersion: 1 }, { actor: 'another process' });
    await changed;
    expect(directory.get('acme')).toMatchObject({ plan: 'pro' });
  });

  it('reads every tenant in pages, in order of id, for what needs them all, keeping none in memory', async () => {
    const store = await storeWith(['e', 'a', 'c', 'b', 'd'].map((id) => ({ id, plan: 'free' })));
    const { directory } = await directoryOn(store, 2);
    const pages: string[][] = [];
    for await (const page of directory.pages(2)) pages.push(page.map((tenant) => tenant.id));
    expect(pages).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(directory.size).toBe(0);
  });

  describe('decisions', () => {
    afterEach(async () => {
      await OpenFeature.clearProviders();
    });

    it('decides a tenant not in memory after reading it, and fails closed when the store cannot be read', async () => {
      const store = await storeWith([
        { id: 'busy', plan: 'free' },
        { id: 'acme', plan: 'pro' },
      ]);
      const { directory, feed } = await directoryOn(store, 1);
      await directory.load('busy');
      const provider = new EntitleProvider({ policy: new TestPolicySource(snapshotOf(POLICY)), tenants: directory });
      await OpenFeature.setProviderAndWait('bounded-directory', provider);
      const client = OpenFeature.getClient('bounded-directory');
      expect(await client.getBooleanDetails('sync', false, { tenantId: 'acme' })).toMatchObject({
        value: true,
        reason: 'TARGETING_MATCH',
      });
      expect(directory.has('busy')).toBe(false);
      const load = feed.load;
      feed.load = async () => {
        throw new Error('connection refused');
      };
      cleanup.push(() => void (feed.load = load));
      expect(await client.getBooleanDetails('sync', false, { tenantId: 'busy' })).toMatchObject({
        value: false,
        errorCode: 'GENERAL',
      });
      // The tenant in memory is still decided with no read.
      expect(await client.getBooleanValue('sync', false, { tenantId: 'acme' })).toBe(true);
    });
  });

  describe('its size', () => {
    it('is ENTITLE_DIRECTORY_MAX_TENANTS, 50,000 by default, and a bad value stops start-up', async () => {
      const base = { ENTITLE_DB: ':memory:' };
      expect(loadConfig(base).directory.maxTenants).toBe(DEFAULT_MAX_TENANTS);
      expect(DEFAULT_MAX_TENANTS).toBe(50_000);
      expect(loadConfig({ ...base, ENTITLE_DIRECTORY_MAX_TENANTS: '8' }).directory.maxTenants).toBe(8);
      expect(() => loadConfig({ ...base, ENTITLE_DIRECTORY_MAX_TENANTS: '0' })).toThrow(ConfigError);
      const t = await buildTestApp({ env: { ENTITLE_DIRECTORY_MAX_TENANTS: '3' } });
      cleanup.push(() => t.close());
      expect(t.app.entitle.tenants.maxTenants).toBe(3);
    });
  });
});
