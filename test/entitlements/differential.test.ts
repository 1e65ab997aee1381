// Differential testing of the decision core: a deliberately naive reference resolver (a few
// obviously correct lines, test/support/differential) against decide(), the OpenFeature
// provider, the OpenFeature client and the gate's DecisionCache, on generated policies,
// tenants, overrides and clocks at expiry edges. The cache is walked through time: a decision
// cached before an override expires must not outlive it. (OFREP and Unleash:
// differential-protocols.test.ts.)

import fc from 'fast-check';
import {
  OpenFeature,
  ProviderEvents,
  type Client,
  type EvaluationDetails,
  type FlagValue,
} from '@openfeature/server-sdk';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/entitlements/decide.js';
import { EntitleProvider } from '../../src/entitlements/entitle-provider.js';
import { TenantDirectory } from '../../src/entitlements/tenant-directory.js';
import { DecisionCache } from '../../src/gate/decision-cache.js';
import { readPolicyTexts } from '../../src/policy/read-policy.js';
import type { TenantSnapshot } from '../../src/store/store.js';
import { fixedFeed } from '../support/fixed-feed.js';
import {
  expectedFor,
  policyArbitrary,
  SEED,
  snapshotsOf,
  T0,
  tenantsArbitrary,
  type RawPolicy,
} from '../support/differential.js';
import { TestPolicySource } from '../support/policy.js';
import { runs } from '../support/runs.js';

/** A directory over fixed snapshots (no store), each read once so that decisions find it in memory. */
async function directoryOf(snapshots: readonly TenantSnapshot[]): Promise<TenantDirectory> {
  const directory = await TenantDirectory.open({ changes: fixedFeed(snapshots), afterWrite: () => () => undefined });
  for (const snapshot of snapshots) await directory.load(snapshot.tenant.id);
  return directory;
}

/** The client's details for a feature of the policy's type. */
function detailsOf(
  client: Client,
  raw: RawPolicy,
  feature: string,
  tenantId: string,
): Promise<EvaluationDetails<FlagValue>> {
  const type = raw.features[feature]?.type;
  const context = { tenantId, targetingKey: 'u' };
  return type === 'boolean'
    ? client.getBooleanDetails(feature, false, context)
    : type === 'number'
      ? client.getNumberDetails(feature, -1, context)
      : client.getStringDetails(feature, '?', context);
}

let domains = 0;

describe('decision core against a naive reference', () => {
  it('decide, the provider, the client and the gate cache agree with the reference on generated policies, overrides and clocks', async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(
        policyArbitrary,
        tenantsArbitrary,
        fc.integer({ min: -2, max: 2 }),
        async (raw, tenantSpecs, clockOffset) => {
          const read = readPolicyTexts([{ file: 'p.yaml', text: JSON.stringify(raw) }]);
          if (!read.ok) throw new Error(`generated policy invalid: ${read.issues[0]?.message}`);
          const policy = read.snapshot;
          const featureKeys = Object.keys(raw.features);
          const snapshots = snapshotsOf(raw, tenantSpecs);
          const tenantIds = [...snapshots.map((s) => s.tenant.id), 'unknown-tenant'];
          // Starts before the earliest expiry and walks past the latest, one millisecond at a time.
          let now = T0 - 3 + clockOffset;
          const directory = await directoryOf(snapshots);
          const provider = new EntitleProvider({
            policy: new TestPolicySource(policy),
            tenants: directory,
            clock: () => now,
          });
          const domain = `differential-${++domains}`;
          await OpenFeature.setProviderAndWait(domain, provider);
          const client = OpenFeature.getClient(domain);
          // As the app wires it: dropped on every provider change, entries bounded by override expiry.
          const cache = new DecisionCache({
            clock: () => now,
            subscribe: (invalidate) => {
              provider.events.addHandler(ProviderEvents.ConfigurationChanged, invalidate);
              return () => provider.events.removeHandler(ProviderEvents.ConfigurationChanged, invalidate);
            },
          });
          try {
            for (; now <= T0 + 3; now++) {
              for (const tenantId of tenantIds) {
                for (const feature of featureKeys) {
                  const expected = expectedFor(raw, snapshots, tenantId, feature, now);
                  expect(decide(policy, directory.get(tenantId), feature, now)?.value).toBe(expected);
                  expect((await detailsOf(client, raw, feature, tenantId)).value).toBe(expected);
                  const cached = await cache.get(
                    { type: raw.features[feature]?.type ?? 'boolean', feature, tenantId, userId: 'u' },
                    () => detailsOf(client, raw, feature, tenantId),
                  );
                  expect(
                    cached.value,
                    `cached ${feature} for ${tenantId} at T0${now - T0 >= 0 ? '+' : ''}${now - T0} ms`,
                  ).toBe(expected);
                  checked++;
                }
              }
            }
          } finally {
            cache.close();
            await OpenFeature.clearProviders();
            directory.close();
          }
        },
      ),
      { numRuns: runs(40, 2_000), seed: SEED },
    );
    console.info(
      `differential: ${domains} generated worlds, ${checked} decisions compared (decide, provider, client, gate cache), 7 clocks each`,
    );
    expect(checked).toBeGreaterThan(0);
  });
});
