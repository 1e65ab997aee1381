// Turns a validated policy into an immutable snapshot: `extends` flattened, lookups ready.

import { createHash } from 'node:crypto';
import { FrozenMap } from './frozen-map.js';
import { UNLIMITED } from './types.js';
import type { PolicyEntries } from './validate.js';
import type {
  BillingPolicy,
  BillingProviderName,
  BillingSettingsSpec,
  FeatureDefinition,
  FeatureSpec,
  FeatureType,
  FeatureValue,
  PlanDefinition,
  PlanSpec,
  PlanValue,
  PolicySnapshot,
} from './types.js';

/** Whether a value gives a tenant the feature: `true`, a positive number, a non-empty string, a meter allowance above 0. */
export function isGranted(type: FeatureType, value: FeatureValue): boolean {
  if (type === 'boolean') return value === true;
  if (type === 'meter') return value === UNLIMITED || (typeof value === 'number' && value > 0);
  if (type === 'number') return typeof value === 'number' && value > 0;
  return typeof value === 'string' && value.length > 0;
}

/**
 * Compiles merged, validated policy entries. Pure: the same entries give an equal snapshot
 * with the same version. Expects `validateSemantics` to have found no issues. The snapshot and
 * everything in it is immutable: its maps throw on `set`, `delete` and `clear`.
 */
export function compilePolicy(merged: PolicyEntries): PolicySnapshot {
  const featureSpecs = merged.features.map(({ key, spec }) => [key, spec as unknown as FeatureSpec] as const);
  const planSpecs = merged.plans.map(({ key, spec }) => [key, spec as unknown as PlanSpec] as const);
  const billingSpec = merged.billing?.spec as unknown as BillingSettingsSpec | undefined;
  const version = contentVersion(featureSpecs, planSpecs, billingSpec);

  const plans = new Map<string, PlanDefinition>();
  const planSpecByKey = new Map(planSpecs);
  for (const [key, spec] of planSpecs) {
    const chain = extendsChain(key, planSpecByKey);
    const values = new Map<string, PlanValue>();
    // Walk from the root ancestor down so that nearer plans overwrite what they inherit.
    for (let i = chain.length - 1; i >= 0; i--) {
      const planKey = chain[i] as string;
      const planFeatures = planSpecByKey.get(planKey)?.features ?? {};
      for (const [feature, value] of Object.entries(planFeatures)) {
        values.set(feature, Object.freeze({ value, definedBy: planKey }));
      }
    }
    plans.set(
      key,
      Object.freeze({
        key,
        name: spec.name ?? titleCase(key),
        description: spec.description ?? '',
        extends: spec.extends,
        chain: Object.freeze(chain),
        values: new FrozenMap(values),
      }),
    );
  }

  const features = new Map<string, FeatureDefinition>();
  for (const [key, spec] of featureSpecs) {
    const requiredPlan = [...plans.values()].find((plan) => {
      const given = plan.values.get(key);
      return given !== undefined ? isGranted(spec.type, given.value) : isGranted(spec.type, spec.default);
    })?.key;
    features.set(
      key,
      Object.freeze({
        key,
        name: spec.name,
        description: spec.description,
        type: spec.type,
        default: spec.default,
        upgradeMessage: spec.upgradeMessage,
        values: spec.values ? Object.freeze([...spec.values]) : undefined,
        rollout: spec.rollout ? Object.freeze({ unleash: spec.rollout.unleash }) : undefined,
        meter:
          spec.type === 'meter' && spec.unit !== undefined && spec.period !== undefined
            ? Object.freeze({ unit: spec.unit, period: spec.period, reset: spec.reset ?? 'calendar' })
            : undefined,
        requiredPlan,
        ...(spec.integer === true ? { integer: true as const } : {}),
        ...(spec.minimum !== undefined ? { minimum: spec.minimum } : {}),
        ...(spec.maximum !== undefined ? { maximum: spec.maximum } : {}),
      }),
    );
  }

  const files = [...new Set([...merged.features, ...merged.plans].map((entry) => entry.file.file))];
  const billing = billingSpec ? compileBilling(billingSpec, planSpecs) : undefined;
  return Object.freeze({
    version,
    features: new FrozenMap(features),
    plans: new FrozenMap(plans),
    files: Object.freeze(files),
    billing,
  });
}

/** Default days a past_due subscription keeps its plan. */
export const DEFAULT_GRACE_PERIOD_DAYS = 7;

function compileBilling(spec: BillingSettingsSpec, plans: readonly (readonly [string, PlanSpec])[]): BillingPolicy {
  const stripe = new Map<string, string>();
  for (const [key, plan] of plans) for (const price of plan.billing?.stripe?.prices ?? []) stripe.set(price, key);
  const prices = new Map<BillingProviderName, ReadonlyMap<string, string>>([['stripe', new FrozenMap(stripe)]]);
  return Object.freeze({
    fallbackPlan: spec.fallbackPlan,
    gracePeriodDays: spec.gracePeriodDays ?? DEFAULT_GRACE_PERIOD_DAYS,
    prices: new FrozenMap(prices),
  });
}

function extendsChain(key: string, specs: ReadonlyMap<string, PlanSpec>): string[] {
  const chain: string[] = [];
  let current: string | undefined = key;
  // Validation rejects cycles; the bound keeps a bug from becoming an endless loop.
  while (current !== undefined && chain.length <= specs.size && !chain.includes(current)) {
    chain.push(current);
    current = specs.get(current)?.extends;
  }
  return chain;
}

function contentVersion(
  features: readonly (readonly [string, FeatureSpec])[],
  plans: readonly (readonly [string, PlanSpec])[],
  billing: BillingSettingsSpec | undefined,
): string {
  // Without a billing section the version is what it was before billing existed.
  const content = billing === undefined ? { features, plans } : { features, plans, billing };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
}

function titleCase(key: string): string {
  return key.replace(/[_.-]+/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());
}
