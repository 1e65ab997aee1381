// The peers, configured the way a competent user of each would: the tenant's plan travels in
// the evaluation context, a rule per plan value matches the plan, and only overrides are
// tenant lists (small ones). Every peer must give our answers (bench/decisions.ts checks them all).

import { InMemStorageProvider, Unleash, type ClientFeaturesResponse } from 'unleash-client';
import type { FeatureDefinition, FeatureValue } from '../../src/policy/types.js';
import type { Workload } from './workload.js';

/** Per feature: which tenants override it to which value, and which plans give which value. */
interface FeatureRules {
  readonly feature: FeatureDefinition;
  /** Override value → tenants. */
  readonly overrides: Map<FeatureValue, string[]>;
  /** Plan value (other than the default) → plans. */
  readonly plans: Map<FeatureValue, string[]>;
}

function rulesOf(workload: Workload): FeatureRules[] {
  const { policy } = workload;
  return [...policy.features.values()].map((feature) => {
    const overrides = new Map<FeatureValue, string[]>();
    for (const { tenant, overrides: list } of workload.tenants) {
      const override = list.find((o) => o.feature === feature.key);
      if (override) overrides.set(override.value, [...(overrides.get(override.value) ?? []), tenant.id]);
    }
    const plans = new Map<FeatureValue, string[]>();
    for (const plan of policy.plans.values()) {
      const value = plan.values.get(feature.key)?.value ?? feature.default;
      if (value !== feature.default) plans.set(value, [...(plans.get(value) ?? []), plan.key]);
    }
    return { feature, overrides, plans };
  });
}

/**
 * flagd: overrides first (`tenantId in [a few tenants]`), then `plan in [plans]` per value,
 * then the default variant. Evaluated with `{ tenantId, plan }` in the context.
 */
export function flagdConfiguration(workload: Workload): object {
  const variantOf = (value: FeatureValue) => `v_${String(value)}`;
  const flags: Record<string, object> = {};
  for (const { feature, overrides, plans } of rulesOf(workload)) {
    const variants: Record<string, FeatureValue> = { [variantOf(feature.default)]: feature.default };
    const rules: unknown[] = [];
    for (const [value, tenants] of overrides) {
      variants[variantOf(value)] = value;
      rules.push({ in: [{ var: 'tenantId' }, tenants] }, variantOf(value));
    }
    for (const [value, planKeys] of plans) {
      variants[variantOf(value)] = value;
      rules.push({ in: [{ var: 'plan' }, planKeys] }, variantOf(value));
    }
    flags[feature.key] = {
      state: 'ENABLED',
      variants,
      defaultVariant: variantOf(feature.default),
      ...(rules.length > 0 ? { targeting: { if: [...rules, variantOf(feature.default)] } } : {}),
    };
  }
  return { flags };
}

/**
 * Unleash: one toggle per boolean feature. Strategies are OR-ed and a strategy's constraints
 * AND-ed: "tenantId IN [granted by override]" OR "plan IN [granting plans] AND tenantId NOT_IN
 * [revoked by override]". Evaluated with `{ properties: { tenantId, plan } }`.
 */
export async function startUnleash(workload: Workload): Promise<Unleash> {
  const constraint = (contextName: string, operator: 'IN' | 'NOT_IN', values: string[]) => ({
    contextName,
    operator,
    values,
    inverted: false,
    caseInsensitive: false,
  });
  const features = rulesOf(workload)
    .filter(({ feature }) => feature.type === 'boolean')
    .map(({ feature, overrides, plans }) => {
      const granted = overrides.get(true) ?? [];
      const revoked = overrides.get(false) ?? [];
      const grantingPlans =
        feature.default === true
          ? [...workload.policy.plans.keys()].filter((plan) => !(plans.get(false) ?? []).includes(plan))
          : (plans.get(true) ?? []);
      const strategies = [
        ...(granted.length > 0
          ? [{ name: 'default', parameters: {}, constraints: [constraint('tenantId', 'IN', granted)] }]
          : []),
        {
          name: 'default',
          parameters: {},
          constraints: [
            constraint('plan', 'IN', grantingPlans),
            ...(revoked.length > 0 ? [constraint('tenantId', 'NOT_IN', revoked)] : []),
          ],
        },
      ];
      return {
        name: feature.key,
        enabled: true,
        type: 'release',
        project: 'default',
        stale: false,
        impressionData: false,
        variants: [],
        strategies,
      };
    });
  const client = new Unleash({
    url: 'http://127.0.0.1:9/api/',
    appName: 'entitle-bench',
    disableMetrics: true,
    refreshInterval: 0,
    disableAutoStart: true,
    storageProvider: new InMemStorageProvider(),
    // The transport types use enums; the JSON is what a server would send.
    bootstrap: { data: features as unknown as ClientFeaturesResponse['features'] },
    skipInstanceCountWarning: true,
  });
  client.on('error', () => undefined);
  const ready = new Promise((resolve) => client.once('ready', resolve));
  await client.start();
  await ready;
  return client;
}
