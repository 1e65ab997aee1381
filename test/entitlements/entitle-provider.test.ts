import { OpenFeature, ProviderEvents, type EventDetails } from '@openfeature/server-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EntitleProvider } from '../../src/entitlements/entitle-provider.js';
import { TenantDirectory } from '../../src/entitlements/tenant-directory.js';
import type { EntitleStore } from '../../src/store/store.js';
import { TenantOperations } from '../../src/tenants/tenant-operations.js';
import { snapshotOf, TestPolicySource } from '../support/policy.js';
import { testDatabase, type TestDatabase } from '../support/store.js';

const POLICY = {
  features: {
    sync: {
      name: 'Sync',
      description: 'Calendar sync.',
      type: 'boolean',
      default: false,
      upgradeMessage: 'Upgrade for sync.',
    },
    seats: {
      name: 'Seats',
      description: 'Team seats.',
      type: 'number',
      default: 1,
      upgradeMessage: 'Upgrade for more seats.',
    },
  },
  plans: { free: {}, pro: { features: { sync: true, seats: 5 } } },
};

describe('EntitleProvider', () => {
  let now: number;
  let database: TestDatabase;
  let store: EntitleStore;
  let directory: TenantDirectory;
  let policy: TestPolicySource;
  let provider: EntitleProvider;
  let operations: TenantOperations;
  let domain: string;
  let counter = 0;

  beforeEach(async () => {
    now = Date.parse('2030-01-01T00:00:00Z');
    database = testDatabase();
    store = await database.open({ clock: () => now });
    directory = await TenantDirectory.open(store);
    policy = new TestPolicySource(snapshotOf(POLICY));
    provider = new EntitleProvider({ policy, tenants: directory, clock: () => now });
    operations = new TenantOperations({ store, policy: () => policy.snapshot, clock: () => now });
    domain = `provider-${++counter}`;
    await OpenFeature.setProviderAndWait(domain, provider);
    await operations.createTenant({ id: 'acme', plan: 'free' }, { actor: 'test' });
  });

  afterEach(async () => {
    await OpenFeature.clearProviders();
    directory.close();
    await store.close();
    await database.drop();
  });

  const client = () => OpenFeature.getClient(domain);
  const configurationChanged = () =>
    new Promise<EventDetails>((resolve) => {
      const handler = (details?: EventDetails) => {
        client().removeHandler(ProviderEvents.ConfigurationChanged, handler);
        resolve(details as EventDetails);
      };
      client().addHandler(ProviderEvents.ConfigurationChanged, handler);
    });

  it('describes itself as a server provider named entitle', () => {
    expect(provider.metadata).toEqual({ name: 'entitle' });
    expect(provider.runsOn).toBe('server');
    expect(client().metadata.providerMetadata.name).toBe('entitle');
  });

  it('applies an override on the next evaluation after the write returns', async () => {
    expect(await client().getBooleanValue('sync', false, { tenantId: 'acme' })).toBe(false);
    await operations.setOverride({ tenantId: 'acme', feature: 'sync', value: true, reason: 'trial' }, { actor: 'ops' });
    expect(await client().getBooleanDetails('sync', false, { tenantId: 'acme' })).toMatchObject({
      value: true,
      variant: 'override',
    });
  });

  it('stops applying an override once the clock passes its expiry, with no write', async () => {
    const expiresAt = new Date(now + 60_000).toISOString();
    await operations.setOverride(
      { tenantId: 'acme', feature: 'seats', value: 3, reason: 'trial', expiresAt },
      { actor: 'ops' },
    );
    expect(await client().getNumberDetails('seats', 0, { tenantId: 'acme' })).toMatchObject({
      value: 3,
      variant: 'override',
      flagMetadata: expect.objectContaining({ overrideExpiresAt: expiresAt }),
    });
    now += 60_000;
    expect(await client().getNumberDetails('seats', 0, { tenantId: 'acme' })).toMatchObject({
      value: 1,
      variant: 'default',
    });
  });

  it('follows a plan change', async () => {
    await operations.changePlan('acme', 'pro', { actor: 'ops' });
    expect(await client().getNumberDetails('seats', 0, { tenantId: 'acme' })).toMatchObject({
      value: 5,
      variant: 'plan:pro',
    });
  });

  it('emits ConfigurationChanged naming the feature when an override changes', async () => {
    const changed = configurationChanged();
    await operations.setOverride({ tenantId: 'acme', feature: 'sync', value: true, reason: 'trial' }, { actor: 'ops' });
    expect((await changed).flagsChanged).toEqual(['sync']);
  });

  it('emits ConfigurationChanged with every feature when a plan changes', async () => {
    const changed = configurationChanged();
    await operations.changePlan('acme', 'pro', { actor: 'ops' });
    expect((await changed).flagsChanged).toEqual(['sync', 'seats']);
  });

  it('emits ConfigurationChanged with the changed features when the policy is replaced', async () => {
    const changed = configurationChanged();
    policy.replace(snapshotOf({ ...POLICY, plans: { free: {}, pro: { features: { sync: true, seats: 10 } } } }));
    expect(await changed).toMatchObject({
      flagsChanged: ['seats'],
      metadata: { policyVersion: policy.snapshot.version },
    });
    expect(await client().getNumberValue('seats', 0, { tenantId: 'acme' })).toBe(1);
  });

  it('answers an object evaluation with TYPE_MISMATCH', async () => {
    expect(await client().getObjectDetails('sync', {}, { tenantId: 'acme' })).toMatchObject({
      errorCode: 'TYPE_MISMATCH',
      value: {},
    });
  });

  it('rejects an empty tenantId as INVALID_CONTEXT', async () => {
    expect(await client().getBooleanDetails('sync', true, { tenantId: '' })).toMatchObject({
      errorCode: 'INVALID_CONTEXT',
      value: true,
    });
  });

  it('ignores an override whose value no longer fits a changed feature type', async () => {
    await operations.setOverride({ tenantId: 'acme', feature: 'sync', value: true, reason: 'trial' }, { actor: 'ops' });
    policy.replace(
      snapshotOf({
        features: { ...POLICY.features, sync: { ...POLICY.features.sync, type: 'number', default: 0 } },
        plans: { free: {} },
      }),
    );
    expect(await client().getNumberDetails('sync', -1, { tenantId: 'acme' })).toMatchObject({
      value: 0,
      variant: 'default',
    });
  });
});
