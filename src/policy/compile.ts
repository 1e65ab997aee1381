// Turns a validated policy into an immutable snapshot: `extends` flattened, lookups ready.

import { createHash } from 'node:crypto';
import { FrozenMap } from './frozen-map.js';
import { UNLIMITED } from './types.js';
import type { PolicyEntries } from './validate.js';
import type {
  AddonDefinition,
  AddonSpec,
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
  PlanVersionDefinition,
  PolicySnapshot,
  SourcePosition,
} from './types.js';
import { currentVersionOf, planVersionName, planVersionSources, type PlanVersionSource } from './plan-versions.js';

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
  const addonSpecs = (merged.addons ?? []).map(({ key, spec }) => [key, spec as unknown as AddonSpec] as const);
  const billingSpec = merged.billing?.spec as unknown as BillingSettingsSpec | undefined;
  const version = contentVersion(featureSpecs, planSpecs, billingSpec, addonSpecs);

  const plans = compilePlans(merged.plans);
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
        type: FEATURE_TYPES[spec.type],
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

  const addons = new Map<string, AddonDefinition>();
  for (const [key, spec] of addonSpecs) {
    addons.set(
      key,
      Object.freeze({
        key,
        name: spec.name ?? titleCase(key),
        description: spec.description ?? '',
        availableOn: spec.availableOn ? Object.freeze([...spec.availableOn]) : undefined,
        values: new FrozenMap(new Map(Object.entries(spec.features))),
      }),
    );
  }

  const files = [
    ...new Set([...merged.features, ...merged.plans, ...(merged.addons ?? [])].map((entry) => entry.file.file)),
  ];
  const billing = billingSpec ? compileBilling(billingSpec, planSpecs, addonSpecs) : undefined;
  return Object.freeze({
    version,
    features: new FrozenMap(features),
    plans: new FrozenMap(plans),
    files: Object.freeze(files),
    billing,
    addons: new FrozenMap(addons),
  });
}

// One string per type, the literal's own: parsed policy text gives a new string per feature,
// and callers compare types on every evaluation (the same string compares by identity).
const FEATURE_TYPES: Readonly<Record<FeatureType, FeatureType>> = {
  boolean: 'boolean',
  number: 'number',
  string: 'string',
  meter: 'meter',
};

/** Default days a past_due subscription keeps its plan. */
export const DEFAULT_GRACE_PERIOD_DAYS = 7;

function compileBilling(
  spec: BillingSettingsSpec,
  plans: readonly (readonly [string, PlanSpec])[],
  addons: readonly (readonly [string, AddonSpec])[],
): BillingPolicy {
  const byProvider = (entries: readonly (readonly [string, PlanSpec | AddonSpec])[]) => {
    const stripe = new Map<string, string>();
    for (const [key, entry] of entries) for (const price of entry.billing?.stripe?.prices ?? []) stripe.set(price, key);
    return new FrozenMap(
      new Map<BillingProviderName, ReadonlyMap<string, string>>([['stripe', new FrozenMap(stripe)]]),
    );
  };
  return Object.freeze({
    fallbackPlan: spec.fallbackPlan,
    gracePeriodDays: spec.gracePeriodDays ?? DEFAULT_GRACE_PERIOD_DAYS,
    prices: byProvider(plans),
    addonPrices: byProvider(addons),
  });
}

/** Every plan with every version flattened through `extends` (each version resolved once). */
function compilePlans(entries: PolicyEntries['plans']): Map<string, PlanDefinition> {
  const specs = new Map(entries.map(({ key, spec }) => [key, spec as unknown as PlanSpec]));
  const sources = new Map<string, ReadonlyMap<number, PlanVersionSource>>();
  for (const [key, spec] of specs)
    sources.set(key, new Map(planVersionSources(spec).map((source) => [source.version, source])));
  const resolved = new Map<string, PlanVersionDefinition>();
  const positionsOf = new Map(entries.map((entry) => [entry.key, entry.positions ?? {}]));

  const resolve = (plan: string, version: number | undefined, depth: number): PlanVersionDefinition | undefined => {
    const spec = specs.get(plan);
    if (!spec) return undefined;
    const number = version ?? currentVersionOf(spec);
    const name = planVersionName(plan, number);
    const done = resolved.get(name);
    if (done) return done;
    const source = sources.get(plan)?.get(number);
    // Validation rejects cycles and unknown versions; the bound keeps a bug from recursing forever.
    if (!source || depth > specs.size * 2) return undefined;
    const base = source.extends ? resolve(source.extends.plan, source.extends.version, depth + 1) : undefined;
    const values = new Map<string, PlanValue>(base?.values ?? []);
    for (const [feature, value] of Object.entries(source.features))
      values.set(feature, Object.freeze({ value, definedBy: plan }));
    const positions = positionsOf.get(plan) ?? {};
    const own = new Map<string, SourcePosition>();
    for (const feature of Object.keys(source.features)) {
      const position = positions[`${number}:${feature}`];
      if (position) own.set(feature, position);
    }
    const definition: PlanVersionDefinition = Object.freeze({
      version: number,
      extends: base && source.extends ? planVersionName(source.extends.plan, base.version) : undefined,
      chain: Object.freeze([plan, ...(base?.chain ?? [])]),
      values: new FrozenMap(values),
      positions: new FrozenMap(own),
      position: positions[String(number)],
    });
    resolved.set(name, definition);
    return definition;
  };

  const plans = new Map<string, PlanDefinition>();
  for (const [key, spec] of specs) {
    const versions = new Map<number, PlanVersionDefinition>();
    for (const number of [...(sources.get(key)?.keys() ?? [])].sort((a, b) => a - b)) {
      const definition = resolve(key, number, 0);
      if (definition) versions.set(number, definition);
    }
    const version = currentVersionOf(spec);
    const current = versions.get(version);
    plans.set(
      key,
      Object.freeze({
        key,
        name: spec.name ?? titleCase(key),
        description: spec.description ?? '',
        extends: spec.extends,
        version,
        chain: current?.chain ?? Object.freeze([key]),
        values: current?.values ?? new FrozenMap(new Map()),
        versions: new FrozenMap(versions),
      }),
    );
  }
  return plans;
}

function contentVersion(
  features: readonly (readonly [string, FeatureSpec])[],
  plans: readonly (readonly [string, PlanSpec])[],
  billing: BillingSettingsSpec | undefined,
  addons: readonly (readonly [string, AddonSpec])[],
): string {
  // Without a billing section (or add-ons) the version is what it was before they existed.
  const content = {
    features,
    plans,
    ...(billing === undefined ? {} : { billing }),
    ...(addons.length === 0 ? {} : { addons }),
  };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
}

function titleCase(key: string): string {
  return key.replace(/[_.-]+/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());
}
