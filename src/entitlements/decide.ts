// The decision rule, pure: unexpired tenant override > tenant's plan (through `extends`) >
// feature default. Reads no clock, file or database; never throws.

import { isGranted } from '../policy/compile.js';
import type { FeatureDefinition, FeatureValue, PolicySnapshot } from '../policy/types.js';
import type { Override } from '../store/store.js';

/** An override as decisions see it: with its expiry parsed once. */
export interface OverrideState extends Override {
  /** Milliseconds since the epoch; null when it never expires. */
  readonly expiresAtMs: number | null;
}

/** A tenant as decisions see it. */
export interface TenantState {
  readonly id: string;
  readonly name: string;
  readonly plan: string;
  readonly overrides: ReadonlyMap<string, OverrideState>;
}

/** Where a decision's value came from. */
export type DecisionSource = 'override' | 'plan' | 'default';

/** Why a tenant has (or lacks) a feature: a small closed set that clients can switch on. */
export type DecisionCause =
  | 'GRANTED_BY_OVERRIDE'
  | 'REVOKED_BY_OVERRIDE'
  | 'IN_PLAN'
  | 'NOT_IN_PLAN'
  | 'DEFAULT'
  | 'UNKNOWN_TENANT'
  | 'UNKNOWN_PLAN';

/** OpenFeature flag metadata: what a decision says about itself. */
export type DecisionMetadata = Readonly<Record<string, string | number | boolean>>;

/** A decision and everything that explains it. Decisions are shared and frozen: never mutate one. */
export interface Decision {
  readonly feature: FeatureDefinition;
  readonly value: FeatureValue;
  /** Whether the value gives the tenant the feature (see `isGranted`). */
  readonly granted: boolean;
  readonly source: DecisionSource;
  readonly cause: DecisionCause;
  /** OpenFeature variant: `override`, `plan:<tenant's plan>` or `default`. */
  readonly variant: string;
  /** OpenFeature reason. */
  readonly reason: 'TARGETING_MATCH' | 'DEFAULT';
  /** The tenant's plan, when the tenant is known. */
  readonly plan: string | undefined;
  /** The plan of the `extends` chain that set the value, when it came from a plan. */
  readonly definedBy: string | undefined;
  readonly override: OverrideState | undefined;
  readonly policyVersion: string;
  readonly metadata: DecisionMetadata;
}

/**
 * Decides one feature for one tenant at time `now` (ms since the epoch). Returns undefined
 * only when the policy has no such feature. An unknown tenant gets the feature's default.
 */
export function decide(snapshot: PolicySnapshot, tenant: TenantState | undefined, featureKey: string, now: number): Decision | undefined {
  const table = decisionTable(snapshot);
  const feature = snapshot.features.get(featureKey);
  if (!feature) return undefined;
  if (!tenant) return table.unknownTenant(feature);
  const override = tenant.overrides.get(featureKey);
  if (override && (override.expiresAtMs === null || override.expiresAtMs > now) && fitsType(feature, override.value)) {
    return table.fromOverride(feature, tenant.plan, override);
  }
  return table.fromPlan(feature, tenant.plan);
}

/** Every feature of the policy decided for one tenant, in policy order. */
export function decideAll(snapshot: PolicySnapshot, tenant: TenantState | undefined, now: number): Decision[] {
  const decisions: Decision[] = [];
  for (const key of snapshot.features.keys()) {
    const decision = decide(snapshot, tenant, key, now);
    if (decision) decisions.push(decision);
  }
  return decisions;
}

/** An override written for an older policy may not fit the feature's type any more: it is then ignored. */
function fitsType(feature: FeatureDefinition, value: FeatureValue): boolean {
  if (typeof value !== feature.type) return false;
  return feature.values === undefined || feature.values.includes(value as string);
}

// Decisions are built once per snapshot (and per override) and then shared, so deciding
// allocates nothing on the hot path. Keyed weakly: a replaced snapshot takes its table along.
const tables = new WeakMap<PolicySnapshot, DecisionTable>();

function decisionTable(snapshot: PolicySnapshot): DecisionTable {
  let table = tables.get(snapshot);
  if (!table) {
    table = new DecisionTable(snapshot);
    tables.set(snapshot, table);
  }
  return table;
}

class DecisionTable {
  readonly #byPlan = new Map<string, Map<string, Decision>>();
  readonly #unknownTenant = new Map<string, Decision>();
  readonly #byOverride = new WeakMap<OverrideState, Decision>();

  constructor(private readonly snapshot: PolicySnapshot) {}

  unknownTenant(feature: FeatureDefinition): Decision {
    let decision = this.#unknownTenant.get(feature.key);
    if (!decision) {
      decision = this.#build(feature, feature.default, 'default', 'UNKNOWN_TENANT', undefined, undefined, undefined);
      this.#unknownTenant.set(feature.key, decision);
    }
    return decision;
  }

  fromPlan(feature: FeatureDefinition, planKey: string): Decision {
    let decisions = this.#byPlan.get(planKey);
    if (!decisions) {
      decisions = new Map();
      this.#byPlan.set(planKey, decisions);
    }
    let decision = decisions.get(feature.key);
    if (!decision) {
      decision = this.#planDecision(feature, planKey);
      decisions.set(feature.key, decision);
    }
    return decision;
  }

  fromOverride(feature: FeatureDefinition, planKey: string, override: OverrideState): Decision {
    let decision = this.#byOverride.get(override);
    if (!decision) {
      const cause = isGranted(feature.type, override.value) ? 'GRANTED_BY_OVERRIDE' : 'REVOKED_BY_OVERRIDE';
      decision = this.#build(feature, override.value, 'override', cause, planKey, undefined, override);
      this.#byOverride.set(override, decision);
    }
    return decision;
  }

  #planDecision(feature: FeatureDefinition, planKey: string): Decision {
    const plan = this.snapshot.plans.get(planKey);
    if (!plan) return this.#build(feature, feature.default, 'default', 'UNKNOWN_PLAN', planKey, undefined, undefined);
    const given = plan.values.get(feature.key);
    if (!given) {
      const cause = isGranted(feature.type, feature.default) ? 'DEFAULT' : 'NOT_IN_PLAN';
      return this.#build(feature, feature.default, 'default', cause, planKey, undefined, undefined);
    }
    const cause = isGranted(feature.type, given.value) ? 'IN_PLAN' : 'NOT_IN_PLAN';
    return this.#build(feature, given.value, 'plan', cause, planKey, given.definedBy, undefined);
  }

  #build(
    feature: FeatureDefinition,
    value: FeatureValue,
    source: DecisionSource,
    cause: DecisionCause,
    plan: string | undefined,
    definedBy: string | undefined,
    override: OverrideState | undefined,
  ): Decision {
    const policyVersion = this.snapshot.version;
    const metadata: Record<string, string | number | boolean> = { source, cause, policyVersion };
    if (plan !== undefined) metadata.plan = plan;
    if (definedBy !== undefined) metadata.definedBy = definedBy;
    if (override) {
      metadata.overrideReason = override.reason;
      metadata.overrideActor = override.actor;
      if (override.expiresAt !== null) metadata.overrideExpiresAt = override.expiresAt;
    }
    return Object.freeze({
      feature,
      value,
      granted: isGranted(feature.type, value),
      source,
      cause,
      variant: source === 'plan' ? `plan:${plan}` : source,
      reason: source === 'default' ? 'DEFAULT' : 'TARGETING_MATCH',
      plan,
      definedBy,
      override,
      policyVersion,
      metadata: Object.freeze(metadata),
    });
  }
}
