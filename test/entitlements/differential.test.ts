// Differential testing of the decision core: a deliberately naive reference resolver (a few
// obviously correct lines) against decide(), the OpenFeature provider and the OpenFeature
// client, on generated policies, tenants, overrides and clocks at expiry edges.

import fc from 'fast-check';
import { OpenFeature } from '@openfeature/server-sdk';
import { describe, expect, it } from 'vitest';
import { decide, type TenantState } from '../../src/entitlements/decide.js';
import { EntitleProvider } from '../../src/entitlements/entitle-provider.js';
import { TenantDirectory } from '../../src/entitlements/tenant-directory.js';
import { readPolicyTexts } from '../../src/policy/read-policy.js';
import type { FeatureValue } from '../../src/policy/types.js';
import type { Override, TenantSnapshot } from '../../src/store/store.js';
import { TestPolicySource } from '../support/policy.js';
import { runs } from '../support/runs.js';

interface RawPolicy {
  features: Record<string, { name: string; type: 'boolean' | 'number' | 'string'; default: FeatureValue; values?: string[] }>;
  plans: Record<string, { extends?: string; features: Record<string, FeatureValue> }>;
}

/** The reference: walk the plan chain by hand; override wins while unexpired. Obviously right, slow. */
function reference(policy: RawPolicy, tenant: { plan: string; overrides: Override[] } | undefined, feature: string, now: number): FeatureValue | undefined {
  const definition = policy.features[feature];
  if (!definition) return undefined;
  if (!tenant) return definition.default;
  const override = tenant.overrides.find((o) => o.feature === feature);
  if (override && (override.expiresAt === null || Date.parse(override.expiresAt) > now)) return override.value;
  let plan: string | undefined = tenant.plan;
  for (let hops = 0; plan !== undefined && hops < 100; hops++) {
    const spec: RawPolicy['plans'][string] | undefined = policy.plans[plan];
    if (!spec) break;
    if (feature in spec.features) return spec.features[feature];
    plan = spec.extends;
  }
  return definition.default;
}

const valueOf = (type: 'boolean' | 'number' | 'string', seed: number): FeatureValue => (type === 'boolean' ? seed % 2 === 0 : type === 'number' ? seed % 50 : ['a', 'b', 'c'][seed % 3] as string);

const policyArbitrary = fc
  .record({
    types: fc.array(fc.constantFrom<'boolean' | 'number' | 'string'>('boolean', 'number', 'string'), { minLength: 1, maxLength: 8 }),
    planCount: fc.integer({ min: 1, max: 5 }),
    seeds: fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 60, maxLength: 60 }),
    parents: fc.array(fc.integer({ min: -1, max: 4 }), { minLength: 5, maxLength: 5 }),
  })
  .map(({ types, planCount, seeds, parents }): RawPolicy => {
    const features: RawPolicy['features'] = {};
    types.forEach((type, i) => {
      features[`f${i}`] = { name: `F${i}`, type, default: valueOf(type, seeds[i] ?? 0), ...(type === 'string' ? { values: ['a', 'b', 'c'] } : {}) };
    });
    const plans: RawPolicy['plans'] = {};
    for (let p = 0; p < planCount; p++) {
      const parent = parents[p] ?? -1;
      const values: Record<string, FeatureValue> = {};
      types.forEach((type, i) => {
        const seed = seeds[(p * 8 + i + 10) % seeds.length] ?? 0;
        if (seed % 3 !== 0) values[`f${i}`] = valueOf(type, seed);
      });
      // Only extend an earlier plan: no cycles by construction (cycles are the validator's job).
      plans[`p${p}`] = { ...(parent >= 0 && parent < p ? { extends: `p${parent}` } : {}), features: values };
    }
    return { features, plans };
  });

const T0 = Date.parse('2030-01-01T00:00:00Z');

describe('decision core against a naive reference', () => {
  it('decide, the provider and the client agree with the reference on generated policies, overrides and clocks', async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(
        policyArbitrary,
        fc.array(fc.record({ plan: fc.integer({ min: 0, max: 5 }), overrides: fc.array(fc.record({ feature: fc.integer({ min: 0, max: 8 }), seed: fc.integer({ min: 0, max: 1000 }), expiry: fc.option(fc.integer({ min: -2, max: 2 })) }), { maxLength: 4 }) }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: -2, max: 2 }),
        async (raw, tenantSpecs, clockOffset) => {
          const read = readPolicyTexts([{ file: 'p.yaml', text: JSON.stringify(raw) }]);
          if (!read.ok) throw new Error(`generated policy invalid: ${read.issues[0]?.message}`);
          const policy = read.snapshot;
          const featureKeys = Object.keys(raw.features);
          const at = new Date(T0).toISOString();
          const snapshots: TenantSnapshot[] = tenantSpecs.map((spec, index) => {
            const id = `t${index}`;
            const overrides: Override[] = [];
            for (const o of spec.overrides) {
              const feature = featureKeys[o.feature % featureKeys.length] as string;
              if (overrides.some((x) => x.feature === feature)) continue;
              const type = raw.features[feature]?.type ?? 'boolean';
              // Expiry at T0 + k ms: with the clock at T0 + clockOffset, the edges (==, ±1 ms) come up.
              const expiresAt = o.expiry === null ? null : new Date(T0 + o.expiry).toISOString();
              overrides.push({ tenantId: id, feature, value: valueOf(type, o.seed), reason: 'r', actor: 'a', expiresAt, createdAt: at, updatedAt: at, version: 1 });
            }
            // Plan index 5 may not exist: an unknown plan falls back to defaults in both.
            return { tenant: { id, name: id, plan: `p${spec.plan}`, createdAt: at, updatedAt: at }, overrides };
          });
          const now = T0 + clockOffset;
          const directory = await TenantDirectory.open({
            changes: { loadAll: async () => ({ cursor: '0', tenants: snapshots }), since: async () => ({ cursor: '0', tenantIds: [] }), load: async () => [], watch: () => () => undefined },
            afterWrite: () => () => undefined,
          });
          const provider = new EntitleProvider({ policy: new TestPolicySource(policy), tenants: directory, clock: () => now });
          const domain = `differential-${checked}`;
          await OpenFeature.setProviderAndWait(domain, provider);
          const client = OpenFeature.getClient(domain);
          try {
            for (const tenantId of [...snapshots.map((s) => s.tenant.id), 'unknown-tenant']) {
              const snapshot = snapshots.find((s) => s.tenant.id === tenantId);
              const state: TenantState | undefined = directory.get(tenantId);
              for (const feature of featureKeys) {
                const expected = reference(raw, snapshot ? { plan: snapshot.tenant.plan, overrides: [...snapshot.overrides] } : undefined, feature, now);
                expect(decide(policy, state, feature, now)?.value).toBe(expected);
                const type = raw.features[feature]?.type;
                const context = { tenantId };
                const viaClient =
                  type === 'boolean' ? await client.getBooleanValue(feature, !expected, context) : type === 'number' ? await client.getNumberValue(feature, -1, context) : await client.getStringValue(feature, '?', context);
                expect(viaClient).toBe(expected);
                checked++;
              }
            }
          } finally {
            await OpenFeature.clearProviders();
            directory.close();
          }
        },
      ),
      { numRuns: runs(60, 2_000), seed: Number(process.env.FC_SEED ?? Date.now() % 1_000_000) },
    );
    expect(checked).toBeGreaterThan(0);
  });
});
