// Differential testing through the protocols: the naive reference (test/support/differential)
// against OFREP bulk evaluation (with If-None-Match: a 304 must only ever confirm answers that
// are still right) and the Unleash client API payload as the real unleash-client evaluates it,
// in a real app on generated policies, tenants, overrides and clocks walking across expiry
// edges. Fewer runs than the in-process differential: each builds an app.

import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import clientModule from 'unleash-client/lib/client.js';
import type { RepositoryInterface } from 'unleash-client/lib/repository/index.js';
import { defaultStrategies } from 'unleash-client/lib/strategy/index.js';
import type { FeatureInterface } from 'unleash-client/lib/feature.js';
import type { Segment } from 'unleash-client/lib/strategy/strategy.js';
import { describe, expect, it } from 'vitest';
import { issueApiToken } from '../../src/auth/api-tokens.js';
import type { FeatureValue } from '../../src/policy/types.js';
import { buildTestApp } from '../support/app.js';
import {
  expectedFor,
  policyArbitrary,
  SEED,
  snapshotsOf,
  T0,
  tenantsArbitrary,
  type RawPolicy,
} from '../support/differential.js';
import { policyDirectory } from '../support/policy.js';
import { runs } from '../support/runs.js';

type UnleashClientClass = typeof clientModule.default;
/** A CommonJS default export: loaders hand over the class itself or the module holding it. */
const UnleashClient: UnleashClientClass =
  (clientModule as { default?: UnleashClientClass }).default ?? (clientModule as unknown as UnleashClientClass);

const ROUTE_FEATURES: RawPolicy['features'] = {
  can_use_calendar_sync: {
    name: 'Calendar Sync',
    description: 'Sync.',
    type: 'boolean',
    default: false,
    upgradeMessage: 'Upgrade.',
  },
  max_connected_calendars: {
    name: 'Calendars',
    description: 'How many.',
    type: 'number',
    default: 0,
    upgradeMessage: 'Upgrade.',
  },
};

interface UnleashPayload {
  features: FeatureInterface[];
  segments: Segment[];
}

/** unleash-client's own evaluation of a payload, with no server and no polling: the repository is the payload. */
function unleashOf(payload: UnleashPayload): (feature: string, tenantId: string) => boolean {
  const features = new Map(payload.features.map((feature) => [feature.name, feature]));
  const segments = new Map(payload.segments.map((segment) => [segment.id, segment]));
  const repository = Object.assign(new EventEmitter(), {
    getToggle: (name: string) => features.get(name),
    getToggles: () => [...features.values()],
    getTogglesWithSegmentData: () => [],
    getSegment: (id: number) => segments.get(id),
    stop: () => undefined,
    start: async () => undefined,
  }) as unknown as RepositoryInterface;
  const client = new UnleashClient(repository, defaultStrategies);
  return (feature, tenantId) => client.isEnabled(feature, { properties: { tenantId } }, () => false);
}

describe('decisions through OFREP and the Unleash client API against a naive reference', () => {
  it(
    'agree on generated policies, tenants, overrides and clocks across expiry edges',
    { timeout: 600_000 },
    async () => {
      let checked = 0;
      let notModified = 0;
      let worlds = 0;
      await fc.assert(
        fc.asyncProperty(policyArbitrary, tenantsArbitrary, async (generated, tenantSpecs) => {
          // The app's own routes need the calendar features: they join the generated ones (decided by the reference too).
          const raw: RawPolicy = { ...generated, features: { ...generated.features, ...ROUTE_FEATURES } };
          const snapshots = snapshotsOf(raw, tenantSpecs);
          worlds++;
          // Seeded a minute early; then the clock walks across every expiry (T0 - 2 … T0 + 2 ms).
          let now = T0 - 60_000;
          const t = await buildTestApp({
            clock: () => now,
            env: { ENTITLE_POLICIES: policyDirectory({ 'policy.yaml': JSON.stringify(raw) }) },
          });
          try {
            const { store } = t.app.entitle;
            for (const { tenant, overrides } of snapshots) {
              await store.tenants.create({ id: tenant.id, name: tenant.name, plan: tenant.plan }, { actor: 'test' });
              for (const o of overrides)
                await store.overrides.set(
                  {
                    tenantId: o.tenantId,
                    feature: o.feature,
                    value: o.value,
                    reason: o.reason,
                    expiresAt: o.expiresAt,
                  },
                  { actor: 'test' },
                );
            }
            const { token } = await issueApiToken(
              store,
              { tenantId: 't0', userId: 'ops', role: 'admin' },
              { actor: 'test' },
            );
            const auth = { authorization: `Bearer ${token}` };
            const tenantIds = [...snapshots.map((s) => s.tenant.id), 'unknown-tenant'];
            const featureKeys = Object.keys(raw.features);
            const booleans = featureKeys.filter((key) => raw.features[key]?.type === 'boolean');
            const previous = new Map<string, { etag: string; values: Record<string, FeatureValue> }>();
            for (now = T0 - 3; now <= T0 + 3; now++) {
              const at = `T0${now >= T0 ? '+' : ''}${now - T0} ms`;
              for (const tenantId of tenantIds) {
                const expected = Object.fromEntries(
                  featureKeys.map((key) => [key, expectedFor(raw, snapshots, tenantId, key, now)]),
                );
                const before = previous.get(tenantId);
                const response = await t.app.inject({
                  method: 'POST',
                  url: '/ofrep/v1/evaluate/flags',
                  headers: { ...auth, ...(before ? { 'if-none-match': before.etag } : {}) },
                  payload: { context: { tenantId } },
                });
                if (response.statusCode === 304) {
                  notModified++;
                  expect(before?.values, `OFREP 304 for ${tenantId} at ${at}`).toEqual(expected);
                  continue;
                }
                expect(response.statusCode, response.body).toBe(200);
                const values = Object.fromEntries(
                  (response.json().flags as { key: string; value: FeatureValue }[]).map((flag) => [
                    flag.key,
                    flag.value,
                  ]),
                );
                expect(values, `OFREP for ${tenantId} at ${at}`).toEqual(expected);
                previous.set(tenantId, { etag: response.headers.etag as string, values });
                checked += featureKeys.length;
              }
              const features = await t.app.inject({ method: 'GET', url: '/api/client/features', headers: auth });
              expect(features.statusCode, features.body).toBe(200);
              const isEnabled = unleashOf(features.json());
              for (const tenantId of tenantIds) {
                for (const key of booleans) {
                  expect(isEnabled(key, tenantId), `Unleash ${key} for ${tenantId} at ${at}`).toBe(
                    expectedFor(raw, snapshots, tenantId, key, now),
                  );
                  checked++;
                }
              }
            }
          } finally {
            await t.close();
          }
        }),
        { numRuns: runs(8, 150), seed: SEED },
      );
      console.info(
        `differential through protocols: ${worlds} generated worlds, ${checked} decisions compared (OFREP bulk, unleash-client), ${notModified} OFREP 304s checked`,
      );
      expect(checked).toBeGreaterThan(0);
      expect(notModified).toBeGreaterThan(0);
    },
  );
});
