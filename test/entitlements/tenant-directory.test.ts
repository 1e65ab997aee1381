import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { TenantDirectory, type TenantChange } from '../../src/entitlements/tenant-directory.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { ChangeFeed, EntitleStore } from '../../src/store/store.js';

/** A store, and a way to open a second connection to the same data (another process, another instance). */
interface StoreKind {
  readonly name: string;
  database(): { open(): Promise<EntitleStore>; drop(): Promise<void> };
}

const KINDS: StoreKind[] = [
  {
    name: 'SQLite',
    database() {
      const path = join(mkdtempSync(join(tmpdir(), 'entitle-dir-')), 'entitle.db');
      return { open: async () => SqliteStore.open({ path }), drop: async () => undefined };
    },
  },
];
const URL = process.env.DATABASE_URL;
if (URL) {
  KINDS.push({
    name: 'PostgreSQL',
    database() {
      const schema = `entitle_dir_${randomBytes(6).toString('hex')}`;
      return {
        open: () => PostgresStore.open({ url: URL, schema }),
        async drop() {
          const client = new pg.Client({ connectionString: URL });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await client.end();
        },
      };
    },
  });
}

describe.each(KINDS)('TenantDirectory on $name', (kind) => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of cleanup.splice(0).reverse()) await close();
  });

  /** The first store of a fresh database; `another()` opens one more on the same data. */
  async function openStore() {
    const database = kind.database();
    cleanup.push(() => database.drop());
    const another = async () => {
      const store = await database.open();
      cleanup.push(() => store.close());
      return store;
    };
    return Object.assign(await another(), { another });
  }

  async function openDirectory(store: EntitleStore) {
    const directory = await TenantDirectory.open(store);
    cleanup.push(() => directory.close());
    return directory;
  }

  it('opens with no tenant in memory and reads one with its overrides on first use', async () => {
    const store = await openStore();
    await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'pro' }, { actor: 't' });
    await store.overrides.set(
      { tenantId: 'acme', feature: 'sync', value: true, reason: 'r', expiresAt: '2031-01-01T00:00:00.000Z' },
      { actor: 't' },
    );
    const directory = await openDirectory(store);
    expect(directory.size).toBe(0);
    expect(directory.get('acme')).toBeUndefined();
    const acme = await directory.load('acme');
    expect(directory.get('acme')).toBe(acme);
    expect(acme).toMatchObject({ id: 'acme', plan: 'pro' });
    expect(acme?.overrides.get('sync')).toMatchObject({
      value: true,
      expiresAtMs: Date.parse('2031-01-01T00:00:00.000Z'),
    });
  });

  it('is up to date when a write through the same store resolves', async () => {
    const store = await openStore();
    const directory = await openDirectory(store);
    await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, { actor: 't' });
    expect(directory.get('acme')?.plan).toBe('free');
    await store.tenants.setPlan('acme', { plan: 'pro', planVersion: 1 }, { actor: 't' });
    expect(directory.get('acme')?.plan).toBe('pro');
    await store.tenants.delete('acme', { actor: 't' });
    expect(directory.get('acme')).toBeUndefined();
  });

  it('follows writes made by another process on the same database', async () => {
    const server = await openStore();
    const directory = await openDirectory(server);
    const cli = await server.another();
    const changed = once(directory, 'change') as Promise<[TenantChange]>;
    await cli.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, { actor: 'cli' });
    const [change] = await changed;
    expect(change).toEqual({ tenantIds: ['acme'], features: 'all' });
    expect(directory.get('acme')?.plan).toBe('free');

    const overrideChanged = once(directory, 'change') as Promise<[TenantChange]>;
    await cli.overrides.set(
      { tenantId: 'acme', feature: 'sync', value: true, reason: 'trial', expiresAt: null },
      { actor: 'cli' },
    );
    expect((await overrideChanged)[0]).toEqual({ tenantIds: ['acme'], features: ['sync'] });
    expect(directory.get('acme')?.overrides.get('sync')?.value).toBe(true);
  });

  describe('when the store does not answer', () => {
    /** A feed over a real store whose catch-ups fail while `failures` is above zero, and whose signals the test sends. */
    function flakyFeed(store: EntitleStore) {
      const feed = {
        failures: 0,
        sinceCalls: 0,
        signal: () => undefined as void,
        health: (_connected: boolean) => undefined as void,
      };
      const changes: ChangeFeed = {
        loadAll: () => store.changes.loadAll(),
        head: () => store.changes.head(),
        page: (after, limit) => store.changes.page(after, limit),
        load: (ids) => store.changes.load(ids),
        since: async (cursor) => {
          feed.sinceCalls++;
          if (feed.failures > 0) {
            feed.failures--;
            throw new Error('connection refused');
          }
          return store.changes.since(cursor);
        },
        watch: (signal, health) => {
          feed.signal = signal;
          feed.health = health ?? (() => undefined);
          return () => undefined;
        },
      };
      return { feed, source: { changes, afterWrite: () => () => undefined } };
    }

    it('retries a failed catch-up on a timer with backoff and becomes fresh again with no further write or signal', async () => {
      const store = await openStore();
      const { feed, source } = flakyFeed(store);
      const directory = await TenantDirectory.open(source, { retry: { initialMs: 5, maxMs: 20 } });
      cleanup.push(() => directory.close());
      await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'pro' }, { actor: 'other-instance' });
      feed.failures = 3;
      const stale = once(directory, 'stale');
      const fresh = once(directory, 'fresh');
      feed.signal();
      await stale;
      expect(directory.staleSince).toEqual(expect.any(Number));
      await fresh;
      expect(feed.sinceCalls).toBe(4);
      expect(directory.staleSince).toBeUndefined();
      expect(directory.get('acme')?.plan).toBe('pro');
    });

    it('stays stale while the feed says its connection is down, even when a catch-up works, until it is back', async () => {
      const store = await openStore();
      const { feed, source } = flakyFeed(store);
      const directory = await TenantDirectory.open(source, { retry: { initialMs: 5, maxMs: 20 } });
      cleanup.push(() => directory.close());
      feed.health(false);
      expect(directory.staleSince).toEqual(expect.any(Number));
      await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'pro' }, { actor: 'other-instance' });
      const changed = once(directory, 'change');
      feed.signal();
      await changed;
      // Read, but not fresh: without a connection, other instances' writes would go unnoticed.
      expect(directory.get('acme')?.plan).toBe('pro');
      expect(directory.staleSince).toEqual(expect.any(Number));
      const fresh = once(directory, 'fresh');
      feed.health(true);
      feed.signal();
      await fresh;
      expect(directory.staleSince).toBeUndefined();
    });

    it('stops retrying once closed', async () => {
      const store = await openStore();
      const { feed, source } = flakyFeed(store);
      const directory = await TenantDirectory.open(source, { retry: { initialMs: 5, maxMs: 5 } });
      feed.failures = Number.POSITIVE_INFINITY;
      const stale = once(directory, 'stale');
      feed.signal();
      await stale;
      directory.close();
      const calls = feed.sinceCalls;
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(feed.sinceCalls).toBe(calls);
    });
  });

  it('shares one catch-up among concurrent syncs and misses no write', async () => {
    const store = await openStore();
    const directory = await openDirectory(store);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.tenants.create({ id: `t${i}`, name: `T${i}`, plan: 'free' }, { actor: 't' }),
      ),
    );
    await Promise.all([directory.sync(), directory.sync(), directory.sync()]);
    expect(directory.size).toBe(20);
  });
});
