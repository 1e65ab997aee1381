// The decision rule, pure: unexpired tenant override > tenant's plan at its version (through
// `extends`) with its add-ons > feature default. Reads no clock, file or database; never throws.

import { evaluateBilling, type BillingEvaluation } from '../billing/effective-plan.js';
import type { SubscriptionState } from '../store/subscription-state.js';
import { isGranted } from '../policy/compile.js';
import { valueProblem } from '../policy/validate.js';
import type { FeatureDefinition, FeatureValue, PolicySnapshot } from '../policy/types.js';
import type { BillingLink, Override } from '../store/store.js';
import { NO_ADDONS, planProfile, profileValue, type AddonQuantities, type PlanProfile } from './plan-profile.js';

/** An override as decisions see it: with its expiry parsed once. */
export interface OverrideState extends Override {
  /** Milliseconds since the epoch; null when it never expires. */
  readonly expiresAtMs: number | null;
}

/** What billing says of a tenant, as decisions see it (frozen; replaced whole on a change). */
export interface TenantBillingState {
  readonly link: BillingLink | undefined;
  readonly subscriptions: readonly SubscriptionState[];
}

/** A tenant as decisions see it. */
export interface TenantState {
  readonly id: string;
  readonly name: string;
  /** The plan an operator set, or billing last wrote; with subscriptions, billing decides (see {@link billingOf}). */
  readonly plan: string;
  /** The version of `plan` the tenant is on. */
  readonly planVersion: number;
  /** Add-ons held beside the plan, with their quantities. */
  readonly addons: AddonQuantities;
  /** `planProfile(plan, planVersion, addons)`: what decisions are cached by (build tenants with `tenantState`). */
  readonly profile: PlanProfile;
  readonly overrides: ReadonlyMap<string, OverrideState>;
  /** Absent for a tenant billing knows nothing of. */
  readonly billing?: TenantBillingState | undefined;
  /**
   * The add-ons an operator set, when billing's subscription items give some too: once billing
   * says the subscriptions ended (a grace period over, a cancellation reached), only these count.
   */
  readonly unbilledAddons?: AddonQuantities;
}

/** Where a decision's value came from (`addon`: a plan's value that add-ons raised or granted). */
export type DecisionSource = 'override' | 'plan' | 'addon' | 'default';

/** Why a tenant has (or lacks) a feature: a small closed set that clients can switch on. */
export type DecisionCause =
  | 'GRANTED_BY_OVERRIDE'
  | 'REVOKED_BY_OVERRIDE'
  | 'IN_PLAN'
  /** An add-on the tenant holds grants the feature or raises its limit. */
  | 'GRANTED_BY_ADDON'
  | 'NOT_IN_PLAN'
  | 'DEFAULT'
  | 'UNKNOWN_TENANT'
  | 'UNKNOWN_PLAN'
  /** In the plan, kept while a failed payment is retried (billing's grace period). */
  | 'GRACE_PERIOD';

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
  /** The version of the plan decided with, when the plan is known. */
  readonly planVersion: number | undefined;
  /** The plan of the `extends` chain that set the value, when it came from a plan. */
  readonly definedBy: string | undefined;
  readonly override: OverrideState | undefined;
  readonly policyVersion: string;
  /** For a tenant whose plan billing decides: what billing made of it (trial, grace period…). */
  readonly billing: BillingEvaluation | undefined;
  readonly metadata: DecisionMetadata;
  /** The same decision as OpenFeature ResolutionDetails, built with it: resolving allocates nothing. */
  readonly resolution: DecisionResolution;
}

/** What a decision is to OpenFeature: the provider answers exactly this object. */
export interface DecisionResolution {
  readonly value: FeatureValue;
  readonly variant: string;
  readonly reason: 'TARGETING_MATCH' | 'DEFAULT';
  readonly flagMetadata: DecisionMetadata;
}

/**
 * Decides one feature for one tenant at time `now` (ms since the epoch). Returns undefined
 * only when the policy has no such feature. An unknown tenant gets the feature's default.
 */
export function decide(
  snapshot: PolicySnapshot,
  tenant: TenantState | undefined,
  featureKey: string,
  now: number,
): Decision | undefined {
  return decideNow(snapshot, tenant, featureKey, () => now);
}

/**
 * `decide` for the provider's hot path: the same rule, but the clock is read only when the
 * tenant has an override of the feature (only an override's expiry depends on the time).
 */
export function decideNow(
  snapshot: PolicySnapshot,
  tenant: TenantState | undefined,
  featureKey: string,
  clock: () => number,
): Decision | undefined {
  return featureDecisions(snapshot, featureKey)?.decide(tenant, clock);
}

/**
 * One feature's decisions in a snapshot, for the provider's hot path (`resolve` answers the
 * resolution without the decision); undefined when the policy lacks the feature.
 */
export function featureDecisions(snapshot: PolicySnapshot, featureKey: string): FeatureDecisions | undefined {
  return decisionTable(snapshot).feature(featureKey);
}

/** A tenant's plan and version at one moment, and what billing made of it when billing decides it. */
export interface TenantPlan {
  readonly plan: string;
  readonly planVersion: number;
  readonly billing: BillingEvaluation | undefined;
}

/** The plan a tenant is on at `now`: billing's when its subscriptions decide, else the stored one. */
export function planNow(snapshot: PolicySnapshot, tenant: TenantState, now: number): TenantPlan {
  const billing = tenant.billing === undefined ? undefined : billingOf(snapshot, tenant.billing, now);
  const plan = billing?.plan ?? tenant.plan;
  return { plan, planVersion: versionOn(snapshot, tenant, plan), billing };
}

/**
 * The version a tenant decides with on `plan`: its own on its stored plan (when the policy still
 * has it), the plan's current one on a plan billing moved it to before the move is stored.
 */
function versionOn(snapshot: PolicySnapshot, tenant: TenantState, plan: string): number {
  const definition = snapshot.plans.get(plan);
  if (!definition) return tenant.planVersion;
  return plan === tenant.plan && definition.versions.has(tenant.planVersion) ? tenant.planVersion : definition.version;
}

interface CachedEvaluation {
  readonly snapshot: PolicySnapshot;
  readonly from: number;
  readonly evaluation: BillingEvaluation | undefined;
}

// One evaluation per tenant billing state and policy, reused until the moment it may change
// (a grace period or a paid period ending): deciding for a billed tenant allocates nothing
// in between. Keyed weakly: a tenant's new billing state takes its cache entry along.
const evaluations = new WeakMap<TenantBillingState, CachedEvaluation>();

/**
 * What billing makes of a tenant at `now`: the plan and why, or undefined when billing does not
 * decide its plan (no subscription, or no billing section in the policy). Lazy: a grace period
 * ends when a decision after its end is made, with no job running.
 */
export function billingOf(
  snapshot: PolicySnapshot,
  billing: TenantBillingState,
  now: number,
): BillingEvaluation | undefined {
  const cached = evaluations.get(billing);
  if (
    cached &&
    cached.snapshot === snapshot &&
    now >= cached.from &&
    (cached.evaluation?.validUntil ?? Number.POSITIVE_INFINITY) > now
  )
    return cached.evaluation;
  const evaluation = evaluateBilling(snapshot, billing.subscriptions, now);
  evaluations.set(billing, { snapshot, from: now, evaluation: evaluation ? Object.freeze(evaluation) : undefined });
  return evaluation;
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

/** An unexpired override that still fits the feature (one written for an older policy may not fit its type any more: it is then ignored). */
function applies(feature: FeatureDefinition, override: OverrideState, now: number): boolean {
  if (override.expiresAtMs !== null && override.expiresAtMs <= now) return false;
  const { value } = override;
  if (feature.type === 'meter') return valueProblem(value, 'meter') === undefined;
  if (typeof value !== feature.type) return false;
  return feature.values === undefined || feature.values.includes(value as string);
}

// Decisions are built once per snapshot (and per override) and then shared, so deciding
// allocates nothing on the hot path. Keyed weakly: a replaced snapshot takes its table along.
// The table last asked for is kept at hand too: nearly every call asks for the one in force,
// and a plain comparison is cheaper than a WeakMap lookup.
const tables = new WeakMap<PolicySnapshot, DecisionTable>();
let lastTable: DecisionTable | undefined;

function decisionTable(snapshot: PolicySnapshot): DecisionTable {
  if (lastTable?.snapshot === snapshot) return lastTable;
  let table = tables.get(snapshot);
  if (!table) {
    table = new DecisionTable(snapshot);
    tables.set(snapshot, table);
  }
  lastTable = table;
  return table;
}

class DecisionTable {
  /** Filled on first use of each feature; features the policy lacks are never stored. */
  readonly #features = new Map<string, FeatureDecisions>();

  constructor(readonly snapshot: PolicySnapshot) {}

  feature(key: string): FeatureDecisions | undefined {
    let decisions = this.#features.get(key);
    if (decisions === undefined) {
      const feature = this.snapshot.features.get(key);
      if (!feature) return undefined;
      decisions = new FeatureDecisions(this.snapshot, feature);
      this.#features.set(key, decisions);
    }
    return decisions;
  }
}

/**
 * One feature's decisions: per plan version and per profile (plan, version, add-ons; in arrays
 * by the profiles' numbers), per override, and for unknown tenants.
 */
export class FeatureDecisions {
  readonly unknownTenant: Decision;
  private readonly snapshot: PolicySnapshot;
  readonly #byOverride = new WeakMap<OverrideState, Decision>();
  readonly #byBilling = new WeakMap<BillingEvaluation, Decision>();
  /**
   * Decisions by plan version (`versionIndex`), and apart from them their resolutions (the
   * provider reads only those): one array entry per plan version, so a feature's fit in a line
   * or two however many versions tenants are on.
   */
  readonly #byVersion: (Decision | undefined)[] = [];
  readonly #resolutionsByVersion: (DecisionResolution | undefined)[] = [];
  /** The same by profile (`index`), for a feature add-ons touch. */
  readonly #byProfile: (Decision | undefined)[] = [];
  readonly #resolutionsByProfile: (DecisionResolution | undefined)[] = [];
  /** Profiles past the interning bound, which have no number. */
  readonly #unnumbered = new WeakMap<PlanProfile, Decision>();
  /** The add-ons whose units give this feature something. */
  readonly #addons: ReadonlySet<string>;
  /** `#addons.size > 0`, kept as a field: the hot path reads it without touching the set. */
  readonly #touchedByAnyAddon: boolean;
  readonly #touched = new WeakMap<AddonQuantities, boolean>();

  constructor(
    snapshot: PolicySnapshot,
    readonly feature: FeatureDefinition,
  ) {
    this.snapshot = snapshot;
    this.unknownTenant = this.#build(feature.default, 'default', 'UNKNOWN_TENANT', undefined, undefined);
    const touching = [...snapshot.addons.values()].filter((addon) => addon.values.has(feature.key));
    this.#addons = new Set(touching.map((addon) => addon.key));
    this.#touchedByAnyAddon = this.#addons.size > 0;
  }

  /** `decideNow` for this feature. */
  decide(tenant: TenantState | undefined, clock: () => number): Decision {
    if (!tenant) return this.unknownTenant;
    const billed = tenant.billing === undefined ? undefined : billingOf(this.snapshot, tenant.billing, clock());
    const override = tenant.overrides.size === 0 ? undefined : tenant.overrides.get(this.feature.key);
    if (override !== undefined && applies(this.feature, override, clock()))
      return this.fromOverride(tenant, billed, override);
    return billed ? this.fromBilling(billed, tenant) : this.#ofProfile(tenant.profile);
  }

  /**
   * `decide(…).resolution`. For a tenant that its plan and add-ons alone decide (no billing, no
   * override), the resolution is read by the profile's number without touching the decision.
   */
  resolve(tenant: TenantState | undefined, clock: () => number): DecisionResolution {
    if (tenant === undefined || tenant.billing !== undefined || tenant.overrides.size !== 0)
      return this.decide(tenant, clock).resolution;
    const held = tenant.profile;
    const resolution = this.#touchedByAnyAddon
      ? this.#resolutionsByProfile[held.index]
      : this.#resolutionsByVersion[held.base.versionIndex];
    return resolution ?? this.#ofProfile(held).resolution;
  }

  /**
   * The decision for a plan version with add-ons. A feature no add-on touches is the plan
   * version's alone: its few decisions stay hot in cache.
   */
  #ofProfile(held: PlanProfile): Decision {
    return this.#touchedByAnyAddon ? this.#ofAddonProfile(held) : this.#ofPlanVersion(held.base);
  }

  #ofPlanVersion(version: PlanProfile): Decision {
    const index = version.versionIndex;
    const known = index >= 0 ? this.#byVersion[index] : this.#unnumbered.get(version);
    if (known !== undefined) return known;
    const decision = this.#profileDecision(version.plan, version.version, NO_ADDONS);
    return this.#keep(decision, version, index, this.#byVersion, this.#resolutionsByVersion);
  }

  #ofAddonProfile(held: PlanProfile): Decision {
    const index = held.index;
    const known = index >= 0 ? this.#byProfile[index] : this.#unnumbered.get(held);
    if (known !== undefined) return known;
    // Add-ons that do not touch this feature point at the plan version's shared decision, so a
    // profile costs an array entry, not a decision.
    const decision =
      held.addons.size === 0 || !this.#touchedBy(held.addons)
        ? this.#ofPlanVersion(held.base)
        : this.#profileDecision(held.plan, held.version, held.addons);
    return this.#keep(decision, held, index, this.#byProfile, this.#resolutionsByProfile);
  }

  #keep(
    decision: Decision,
    profile: PlanProfile,
    index: number,
    decisions: (Decision | undefined)[],
    resolutions: (DecisionResolution | undefined)[],
  ): Decision {
    if (index < 0) {
      this.#unnumbered.set(profile, decision);
      return decision;
    }
    // Grown entry by entry, filled with undefined, not holes: a packed array stays on the fast path.
    while (decisions.length <= index) {
      decisions.push(undefined);
      resolutions.push(undefined);
    }
    decisions[index] = decision;
    resolutions[index] = decision.resolution;
    return decision;
  }

  fromOverride(tenant: TenantState, billed: BillingEvaluation | undefined, override: OverrideState): Decision {
    let decision = this.#byOverride.get(override);
    if (!decision) {
      const plan = billed?.plan ?? tenant.plan;
      const cause = isGranted(this.feature.type, override.value) ? 'GRANTED_BY_OVERRIDE' : 'REVOKED_BY_OVERRIDE';
      const at = { plan, planVersion: versionOn(this.snapshot, tenant, plan) };
      decision = this.#build(override.value, 'override', cause, at, undefined, { override });
      this.#byOverride.set(override, decision);
    }
    return decision;
  }

  /** The plan's decision as billing put the tenant on it: a grace period shows as the cause. */
  fromBilling(billing: BillingEvaluation, tenant: TenantState): Decision {
    let decision = this.#byBilling.get(billing);
    if (!decision) {
      const version = versionOn(this.snapshot, tenant, billing.plan);
      const addons = billing.cause === 'ENDED' ? (tenant.unbilledAddons ?? tenant.addons) : tenant.addons;
      const base = this.#ofProfile(planProfile(billing.plan, version, addons));
      const cause = billing.cause === 'GRACE_PERIOD' && base.cause === 'IN_PLAN' ? 'GRACE_PERIOD' : base.cause;
      const at = base.planVersion === undefined ? undefined : { plan: billing.plan, planVersion: base.planVersion };
      decision = this.#build(base.value, base.source, cause, at ?? billing.plan, base.definedBy, { billing });
      this.#byBilling.set(billing, decision);
    }
    return decision;
  }

  #profileDecision(planKey: string, version: number, addons: AddonQuantities): Decision {
    const { feature } = this;
    const given = profileValue(this.snapshot, feature, planKey, version, addons);
    if (!given) return this.#build(feature.default, 'default', 'UNKNOWN_PLAN', planKey, undefined);
    // Add-ons that change nothing of this feature: the plan version's own decision, shared, so
    // tenants with many add-on combinations touch a few decisions, not one per combination.
    if (addons.size > 0 && given.addons.length === 0)
      return this.#ofPlanVersion(planProfile(planKey, given.version, NO_ADDONS));
    const at = { plan: planKey, planVersion: given.version };
    const granted = isGranted(feature.type, given.value);
    const cause: DecisionCause =
      given.source === 'addon'
        ? granted
          ? 'GRANTED_BY_ADDON'
          : 'NOT_IN_PLAN'
        : given.source === 'default'
          ? granted
            ? 'DEFAULT'
            : 'NOT_IN_PLAN'
          : granted
            ? 'IN_PLAN'
            : 'NOT_IN_PLAN';
    const extra = given.addons.length > 0 ? { addons: given.addons } : {};
    return this.#build(given.value, given.source, cause, at, given.definedBy, extra);
  }

  /** Whether any of `addons` touches this feature; known per add-on set (tenants share their set's map). */
  #touchedBy(addons: AddonQuantities): boolean {
    if (this.#addons.size === 0) return false;
    let touched = this.#touched.get(addons);
    if (touched === undefined) {
      touched = [...addons.keys()].some((addon) => this.#addons.has(addon));
      this.#touched.set(addons, touched);
    }
    return touched;
  }

  #build(
    value: FeatureValue,
    source: DecisionSource,
    cause: DecisionCause,
    at: { readonly plan: string; readonly planVersion: number } | string | undefined,
    definedBy: string | undefined,
    extra: {
      readonly override?: OverrideState;
      readonly billing?: BillingEvaluation;
      readonly addons?: readonly string[];
    } = {},
  ): Decision {
    const { feature } = this;
    const { override, billing, addons } = extra;
    const plan = typeof at === 'string' ? at : at?.plan;
    const planVersion = typeof at === 'object' ? at.planVersion : undefined;
    const policyVersion = this.snapshot.version;
    const metadata: Record<string, string | number | boolean> = { source, cause, policyVersion };
    if (plan !== undefined) metadata.plan = plan;
    if (planVersion !== undefined) metadata.planVersion = planVersion;
    if (definedBy !== undefined) metadata.definedBy = definedBy;
    if (addons !== undefined) metadata.addons = addons.join(',');
    if (billing) {
      metadata.billing = billing.cause;
      if (billing.trialEndsAt) metadata.trialEndsAt = billing.trialEndsAt;
      if (billing.graceEndsAt) metadata.graceEndsAt = billing.graceEndsAt;
      if (billing.endsAt) metadata.planEndsAt = billing.endsAt;
      // Caches (the gate's) keep this decision only until billing may decide otherwise.
      if (billing.validUntil !== null) metadata.billingValidUntil = new Date(billing.validUntil).toISOString();
    }
    if (override) {
      metadata.overrideReason = override.reason;
      metadata.overrideActor = override.actor;
      if (override.expiresAt !== null) metadata.overrideExpiresAt = override.expiresAt;
    }
    const variant = source === 'plan' || source === 'addon' ? `plan:${plan}` : source;
    const reason = source === 'default' ? 'DEFAULT' : 'TARGETING_MATCH';
    const flagMetadata = Object.freeze(metadata);
    // `feature` and `resolution` first: what callers read of a decision most, in one cache line.
    return Object.freeze({
      feature,
      resolution: Object.freeze({ value, variant, reason, flagMetadata }),
      granted: isGranted(feature.type, value),
      value,
      source,
      cause,
      variant,
      reason,
      plan,
      planVersion,
      definedBy,
      override,
      policyVersion,
      billing,
      metadata: flagMetadata,
    });
  }
}
