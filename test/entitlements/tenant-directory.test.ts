import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TenantDirectory, type TenantChange } from '../../src/entitlements/tenant-directory.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

describe('TenantDirectory', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of cleanup.splice(0).reverse()) await close();
  });

  function openStore(path = ':memory:') {
    const store = SqliteStore.open({ path });
    cleanup.push(() => store.close());
    return store;
  }

  async function openDirectory(store: SqliteStore) {
    const directory = await TenantDirectory.open(store);
    cleanup.push(() => directory.close());
    return directory;
  }

  it('loads every tenant with its overrides at open', async () => {
    const store = openStore();
    await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'pro' }, { actor: 't' });
    await store.overrides.set({ tenantId: 'acme', feature: 'sync', value: true, reason: 'r', expiresAt: '2031-01-01T00:00:00.000Z' }, { actor: 't' });
    const directory = await openDirectory(store);
    const acme = directory.get('acme');
    expect(acme).toMatchObject({ id: 'acme', plan: 'pro' });
    expect(acme?.overrides.get('sync')).toMatchObject({ value: true, expiresAtMs: Date.parse('2031-01-01T00:00:00.000Z') });
  });

  it('is up to date when a write through the same store resolves', async () => {
    const store = openStore();
    const directory = await openDirectory(store);
    await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, { actor: 't' });
    expect(directory.get('acme')?.plan).toBe('free');
    await store.tenants.setPlan('acme', 'pro', { actor: 't' });
    expect(directory.get('acme')?.plan).toBe('pro');
    await store.tenants.delete('acme', { actor: 't' });
    expect(directory.get('acme')).toBeUndefined();
  });

  it('follows writes made by another process on the same database file', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'entitle-dir-')), 'entitle.db');
    const server = openStore(path);
    const directory = await openDirectory(server);
    const cli = openStore(path);
    const changed = once(directory, 'change') as Promise<[TenantChange]>;
    await cli.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, { actor: 'cli' });
    const [change] = await changed;
    expect(change).toEqual({ tenantIds: ['acme'], features: 'all' });
    expect(directory.get('acme')?.plan).toBe('free');

    const overrideChanged = once(directory, 'change') as Promise<[TenantChange]>;
    await cli.overrides.set({ tenantId: 'acme', feature: 'sync', value: true, reason: 'trial', expiresAt: null }, { actor: 'cli' });
    expect((await overrideChanged)[0]).toEqual({ tenantIds: ['acme'], features: ['sync'] });
    expect(directory.get('acme')?.overrides.get('sync')?.value).toBe(true);
  });

  it('shares one catch-up among concurrent syncs and misses no write', async () => {
    const store = openStore();
    const directory = await openDirectory(store);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.tenants.create({ id: `t${i}`, name: `T${i}`, plan: 'free' }, { actor: 't' })));
    await Promise.all([directory.sync(), directory.sync(), directory.sync()]);
    expect(directory.size).toBe(20);
  });
});
