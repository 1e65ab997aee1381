// rollout.unleash: a feature is on only when the tenant is entitled and the named Unleash toggle
// is on for it, on every surface: the provider (and so the gate and /api/entitlements/), OFREP,
// the admin API and our own Unleash client API. Entitle's unleash-client against a local fake
// Unleash server; an app's unleash-client against Entitle.

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemStorageProvider, Unleash, UnleashEvents } from 'unleash-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { ReleaseSwitch } from '../../src/entitlements/release-switch.js';
import { NO_ADDONS, planProfile } from '../../src/entitlements/plan-profile.js';
import { buildUnleashPayload } from '../../src/interop/unleash-payload.js';
import { reportIgnoredRollouts } from '../../src/interop/unleash-release-switch.js';
import { openServices } from '../../src/services.js';
import { startFakeUnleash, type FakeUnleash } from '../fakes/unleash-fake.js';
import { buildTestApp, type TestApp } from '../support/app.js';
import { snapshotOf, STARTER_POLICY_DIR } from '../support/policy.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TENANTS = [
  ['acme', 'business'],
  ['globex', 'business'],
  ['tiny', 'free'],
  ['odd', 'pro'],
] as const;

/** The starter policy with can_use_webhooks behind the webhooks-v2 toggle. */
function rolloutPolicy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-rollout-'));
  cpSync(STARTER_POLICY_DIR, dir, { recursive: true });
  const features = join(dir, 'features.yaml');
  const line = '    upgradeMessage: Webhooks are available on the Business plan and above.\n';
  const text = readFileSync(features, 'utf8');
  expect(text).toContain(line);
  writeFileSync(features, text.replace(line, `${line}    rollout:\n      unleash: webhooks-v2\n`));
  return dir;
}

/** Resolves on the next event, or fails after 5 s. */
function next(subscribe: (listener: () => void) => () => void, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within 5 s`)), 5_000);
    const stop = subscribe(() => {
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

describe('rollout.unleash', () => {
  let fake: FakeUnleash;
  let policyDir: string;
  let t: TestApp;
  let admin: { authorization: string };
  let sdk: Unleash;

  beforeAll(async () => {
    fake = await startFakeUnleash({ 'webhooks-v2': ['acme'] });
    policyDir = rolloutPolicy();
    t = await buildTestApp({
      env: {
        ENTITLE_POLICIES: policyDir,
        UNLEASH_URL: fake.url,
        UNLEASH_API_TOKEN: 'default:development.test-token',
        UNLEASH_REFRESH_INTERVAL_MS: '50',
      },
    });
    for (const [id, plan] of TENANTS) await t.app.entitle.operations.createTenant({ id, plan }, { actor: 'test' });
    // An override grants webhooks to a pro tenant: the toggle still holds it back.
    await t.app.entitle.operations.setOverride(
      { tenantId: 'odd', feature: 'can_use_webhooks', value: true, reason: 'pilot' },
      { actor: 'test' },
    );
    admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    const baseUrl = await t.app.listen({ host: '127.0.0.1', port: 0 });
    // An app's Unleash SDK, holding a read-only client token.
    const clientToken = await t.token('ops', 'sdk', { role: 'client' });
    sdk = new Unleash({
      url: `${baseUrl}/api/`,
      appName: 'entitle-rollout-test',
      refreshInterval: 50,
      disableMetrics: true,
      customHeaders: { Authorization: clientToken },
      storageProvider: new InMemStorageProvider(),
      skipInstanceCountWarning: true,
    });
    sdk.on(UnleashEvents.Error, () => undefined);
    await next((listener) => {
      sdk.once(UnleashEvents.Synchronized, listener);
      return () => sdk.off(UnleashEvents.Synchronized, listener);
    }, 'synchronization of the app SDK');
  });
  afterAll(async () => {
    sdk?.destroy();
    await t?.close();
    await fake?.close();
  });

  const provider = (tenantId: string) =>
    t.app.entitle.client.getBooleanDetails('can_use_webhooks', false, { tenantId });
  const adminView = async (tenantId: string) => {
    const response = await t.app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${tenantId}/entitlements`,
      headers: admin,
    });
    expect(response.statusCode).toBe(200);
    return response.json().features.find((f: { feature: string }) => f.feature === 'can_use_webhooks');
  };
  const ofrep = async (tenantId: string) =>
    (
      await t.app.inject({
        method: 'POST',
        url: '/ofrep/v1/evaluate/flags/can_use_webhooks',
        headers: admin,
        payload: { context: { tenantId } },
      })
    ).json();

  it('is on only for entitled tenants whose toggle is on', async () => {
    expect((await provider('acme')).value).toBe(true);
    const held = await provider('globex');
    expect(held).toMatchObject({ value: false, variant: 'not-released', reason: 'DISABLED' });
    expect(held.flagMetadata).toMatchObject({
      cause: 'NOT_RELEASED',
      releaseToggle: 'webhooks-v2',
      entitledValue: true,
    });
    // Not entitled stays not entitled, whatever the toggle says.
    expect(await provider('tiny')).toMatchObject({ value: false, flagMetadata: { cause: 'NOT_IN_PLAN' } });
    // Features without rollout are untouched.
    expect(
      (await t.app.entitle.client.getBooleanDetails('can_use_round_robin', false, { tenantId: 'globex' })).value,
    ).toBe(true);
    expect(fake.requests.find((request) => request.path === '/api/client/features')?.authorization).toBe(
      'default:development.test-token',
    );
  });

  it('decisions read the local cache: no request to Unleash per decision', async () => {
    const before = fake.requests.length;
    for (let i = 0; i < 200; i++)
      await t.app.entitle.client.getBooleanValue('can_use_webhooks', false, { tenantId: 'acme' });
    // Background refreshes go on every 50 ms; 200 decisions without a request each take far fewer.
    expect(fake.requests.length - before).toBeLessThan(20);
  });

  it('the admin API explains a held-back feature as the provider decides it, with no upgrade prompt', async () => {
    expect(await adminView('globex')).toEqual({
      feature: 'can_use_webhooks',
      featureName: 'Webhooks',
      type: 'boolean',
      value: false,
      granted: false,
      variant: 'not-released',
      reason: 'DISABLED',
      source: 'plan',
      cause: 'NOT_RELEASED',
      plan: 'business',
      planVersion: 1,
      definedBy: 'business',
      policyVersion: t.app.entitle.policy.snapshot.version,
      override: null,
      release: { toggle: 'webhooks-v2', entitledValue: true },
      requiredPlan: null,
    });
    expect(await adminView('acme')).toMatchObject({ value: true, granted: true, cause: 'IN_PLAN' });
  });

  it('the provider, OFREP, the admin API and the Unleash client API agree for every tenant', async () => {
    for (const [tenantId] of TENANTS) {
      const mine = await provider(tenantId);
      const remote = await ofrep(tenantId);
      const view = await adminView(tenantId);
      expect({
        tenantId,
        ofrep: remote.value,
        ofrepCause: remote.metadata.cause,
        admin: view.value,
        adminCause: view.cause,
        unleash: sdk.isEnabled('can_use_webhooks', { properties: { tenantId } }),
      }).toEqual({
        tenantId,
        ofrep: mine.value,
        ofrepCause: mine.flagMetadata.cause,
        admin: mine.value,
        adminCause: mine.flagMetadata.cause,
        unleash: mine.value,
      });
    }
  });

  it('follows the toggle after its next refresh, on every surface', async () => {
    const releases = t.app.entitle.releases as ReleaseSwitch & { onChange(listener: () => void): () => void };
    const refreshed = next((listener) => releases.onChange(listener), 'release toggle refresh');
    const sdkChanged = next((listener) => {
      sdk.on(UnleashEvents.Changed, listener);
      return () => sdk.off(UnleashEvents.Changed, listener);
    }, 'change in the app SDK');
    fake.setEnabledFor('webhooks-v2', ['acme', 'globex', 'tiny']);
    await refreshed;
    expect(await provider('globex')).toMatchObject({ value: true, flagMetadata: { cause: 'IN_PLAN' } });
    expect(await adminView('globex')).toMatchObject({ value: true, granted: true, cause: 'IN_PLAN' });
    expect(await ofrep('globex')).toMatchObject({ value: true, metadata: { cause: 'IN_PLAN' } });
    await sdkChanged;
    expect(sdk.isEnabled('can_use_webhooks', { properties: { tenantId: 'globex' } })).toBe(true);
    // The toggle does not entitle: tiny's plan still lacks webhooks.
    expect(sdk.isEnabled('can_use_webhooks', { properties: { tenantId: 'tiny' } })).toBe(false);
    expect((await provider('tiny')).value).toBe(false);

    const offAgain = next((listener) => releases.onChange(listener), 'release toggle refresh');
    fake.setEnabledFor('webhooks-v2', []);
    await offAgain;
    expect(await provider('acme')).toMatchObject({ value: false, flagMetadata: { cause: 'NOT_RELEASED' } });
    expect(await adminView('acme')).toMatchObject({ value: false, cause: 'NOT_RELEASED' });
  });

  it('without Unleash configured, the references are reported and ignored', async () => {
    const warnings: object[] = [];
    const logger = { ...quiet, warn: (details: object) => warnings.push(details) };
    const config = loadConfig({ ENTITLE_DB: ':memory:', ENTITLE_POLICIES: policyDir });
    const plain = await openServices({ config, logger });
    try {
      await plain.operations.createTenant({ id: 'globex', plan: 'business' }, { actor: 'test' });
      expect(await plain.client.getBooleanValue('can_use_webhooks', false, { tenantId: 'globex' })).toBe(true);
      expect(plain.releases).toBeUndefined();
      expect(warnings).toContainEqual({ features: ['can_use_webhooks → webhooks-v2'] });
      reportIgnoredRollouts(plain.policy.snapshot, logger);
      expect(warnings).toHaveLength(2);
    } finally {
      await plain.close();
    }
  });
});

describe('the Unleash payload behind a release switch', () => {
  const policy = snapshotOf(`
features:
  beta:
    name: Beta
    description: A new thing.
    type: boolean
    default: true
    upgradeMessage: Not yet.
    rollout:
      unleash: beta-toggle
  old:
    name: Old
    description: An old thing.
    type: boolean
    default: true
    upgradeMessage: Always there.
plans:
  basic:
    name: Basic
    description: The only plan.
    features: {}
`);
  const tenants = ['a', 'b', 'c', 'd'].map((id) => ({
    id,
    name: id,
    plan: 'basic',
    planVersion: 1,
    addons: NO_ADDONS,
    profile: planProfile('basic', 1, NO_ADDONS),
    overrides: new Map(),
  }));
  const releases: ReleaseSwitch = { isEnabled: (_toggle, { tenantId }) => tenantId !== 'd' };

  it('spells out the shorter list: the plan segment minus the held-back tenants', () => {
    const { payload } = buildUnleashPayload(policy, tenants, 0, releases);
    const beta = payload.features.find((feature) => feature.name === 'beta');
    expect(beta?.strategies).toEqual([
      {
        name: 'default',
        parameters: {},
        segments: [1],
        constraints: [
          { contextName: 'tenantId', operator: 'NOT_IN', values: ['d'], inverted: false, caseInsensitive: false },
        ],
      },
    ]);
  });

  it('gives tenants it does not know the closed side when a toggle decides, and the default otherwise', () => {
    const { payload } = buildUnleashPayload(policy, tenants, 0, releases);
    const unknownTenantStrategy = (name: string) =>
      payload.features
        .find((feature) => feature.name === name)
        ?.strategies.some((strategy) =>
          strategy.constraints.some((constraint) => constraint.operator === 'NOT_IN' && constraint.values.length === 4),
        );
    expect(unknownTenantStrategy('beta')).toBe(false);
    expect(unknownTenantStrategy('old')).toBe(true);
  });
});
