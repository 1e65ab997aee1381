// Differential testing of the decision core: generated policies, tenants, overrides and clocks
// (expiry edges included), and a deliberately naive reference resolver (a few obviously correct
// lines) that every real path must agree with.

import fc from 'fast-check';
import type { FeatureValue } from '../../src/policy/types.js';
import type { Override, TenantSnapshot } from '../../src/store/store.js';

export interface RawPolicy {
  features: Record<
    string,
    {
      name: string;
      description: string;
      type: 'boolean' | 'number' | 'string';
      default: FeatureValue;
      upgradeMessage: string;
      values?: string[];
    }
  >;
  plans: Record<string, { extends?: string; features: Record<string, FeatureValue> }>;
}

/** The reference: walk the plan chain by hand; override wins while unexpired. Obviously right, slow. */
export function reference(
  policy: RawPolicy,
  tenant: { plan: string; overrides: Override[] } | undefined,
  feature: string,
  now: number,
): FeatureValue | undefined {
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

export const valueOf = (type: 'boolean' | 'number' | 'string', seed: number): FeatureValue =>
  type === 'boolean' ? seed % 2 === 0 : type === 'number' ? seed % 50 : (['a', 'b', 'c'][seed % 3] as string);

export const policyArbitrary = fc
  .record({
    types: fc.array(fc.constantFrom<'boolean' | 'number' | 'string'>('boolean', 'number', 'string'), {
      minLength: 1,
      maxLength: 8,
    }),
    planCount: fc.integer({ min: 1, max: 5 }),
    seeds: fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 60, maxLength: 60 }),
    parents: fc.array(fc.integer({ min: -1, max: 4 }), { minLength: 5, maxLength: 5 }),
  })
  .map(({ types, planCount, seeds, parents }): RawPolicy => {
    const features: RawPolicy['features'] = {};
    types.forEach((type, i) => {
      features[`f${i}`] = {
        name: `F${i}`,
        description: `F${i}.`,
        type,
        default: valueOf(type, seeds[i] ?? 0),
        upgradeMessage: `Upgrade for F${i}.`,
        ...(type === 'string' ? { values: ['a', 'b', 'c'] } : {}),
      };
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

export const T0 = Date.parse('2030-01-01T00:00:00Z');

/** Tenants: a plan index (5 may not exist) and overrides expiring at T0 + k ms, or never. */
export const tenantsArbitrary = fc.array(
  fc.record({
    plan: fc.integer({ min: 0, max: 5 }),
    overrides: fc.array(
      fc.record({
        feature: fc.integer({ min: 0, max: 8 }),
        seed: fc.integer({ min: 0, max: 1000 }),
        expiry: fc.option(fc.integer({ min: -2, max: 2 })),
      }),
      { maxLength: 4 },
    ),
  }),
  { minLength: 1, maxLength: 6 },
);

export type TenantSpecs = typeof tenantsArbitrary extends fc.Arbitrary<infer T> ? T : never;

/** The tenants t0, t1, … as stored, their overrides written at T0. */
export function snapshotsOf(raw: RawPolicy, specs: TenantSpecs): TenantSnapshot[] {
  const featureKeys = Object.keys(raw.features);
  const at = new Date(T0).toISOString();
  return specs.map((spec, index) => {
    const id = `t${index}`;
    const overrides: Override[] = [];
    for (const o of spec.overrides) {
      const feature = featureKeys[o.feature % featureKeys.length] as string;
      if (overrides.some((x) => x.feature === feature)) continue;
      const type = raw.features[feature]?.type ?? 'boolean';
      // Expiry at T0 + k ms: with the clock around T0, the edges (==, ±1 ms) come up.
      const expiresAt = o.expiry === null ? null : new Date(T0 + o.expiry).toISOString();
      overrides.push({
        tenantId: id,
        feature,
        value: valueOf(type, o.seed),
        reason: 'r',
        actor: 'a',
        expiresAt,
        createdAt: at,
        updatedAt: at,
        version: 1,
      });
    }
    // Plan index 5 may not exist: an unknown plan falls back to defaults everywhere.
    return { tenant: { id, name: id, plan: `p${spec.plan}`, planVersion: 1, createdAt: at, updatedAt: at }, overrides };
  });
}

/** What the reference expects for a tenant id (absent: unknown tenant) at `now`. */
export function expectedFor(
  raw: RawPolicy,
  snapshots: readonly TenantSnapshot[],
  tenantId: string,
  feature: string,
  now: number,
): FeatureValue | undefined {
  const snapshot = snapshots.find((s) => s.tenant.id === tenantId);
  return reference(
    raw,
    snapshot ? { plan: snapshot.tenant.plan, overrides: [...snapshot.overrides] } : undefined,
    feature,
    now,
  );
}

/** The fast-check seed: FC_SEED replays a failure. */
export const SEED = Number(process.env.FC_SEED ?? Date.now() % 1_000_000);
