// What a tenant's plan gives before overrides: the plan at the tenant's version, then its add-ons.
// Worked out once per (plan, version, add-on set) and policy, never per decision: a tenant carries
// the shared `PlanProfile` of that combination, and decisions are cached by its number.

import { isGranted } from '../policy/compile.js';
import { UNLIMITED, type FeatureDefinition, type FeatureValue, type PolicySnapshot } from '../policy/types.js';

/** The add-ons a tenant holds: add-on → quantity (at least 1). */
export type AddonQuantities = ReadonlyMap<string, number>;

export const NO_ADDONS: AddonQuantities = new Map();

/**
 * A plan version with a set of add-ons: what a tenant's decisions depend on before overrides. One
 * object per combination however many tenants share it (bounded), so tenants cost little memory.
 * Profiles are numbered densely, and decision tables keep each feature's decisions in arrays by
 * those numbers: the decisions of all plan versions for one feature share a cache line or two.
 */
export class PlanProfile {
  /** The plan version without add-ons (this profile when it has none): what features no add-on touches read. */
  readonly base: PlanProfile;

  constructor(
    /** `pro@1`, `pro@2+extra_calendars*2`: names the combination. */
    readonly key: string,
    readonly plan: string,
    readonly version: number,
    readonly addons: AddonQuantities,
    /** Its number among all profiles; -1 for one past the interning bound (decided without arrays). */
    readonly index: number,
    /** Its number among plan versions (profiles without add-ons); -1 for a profile with add-ons, or past the bound. */
    readonly versionIndex: number,
    base?: PlanProfile,
  ) {
    this.base = base ?? this;
  }
}

const profiles = new Map<string, PlanProfile>();
let planVersionCount = 0;

/** The profile of a plan at `version` with `addons`: one object per combination (up to 100,000 of them). */
export function planProfile(plan: string, version: number, addons: AddonQuantities): PlanProfile {
  const key = addons.size === 0 ? `${plan}@${version}` : `${plan}@${version}${addonsKey(addons)}`;
  const known = profiles.get(key);
  if (known !== undefined) return known;
  const base = addons.size === 0 ? undefined : planProfile(plan, version, NO_ADDONS);
  const interned = profiles.size < 100_000;
  const index = interned ? profiles.size : -1;
  const versionIndex = interned && addons.size === 0 ? planVersionCount++ : -1;
  const profile = new PlanProfile(key, plan, version, addons, index, versionIndex, base);
  if (interned) profiles.set(key, profile);
  return profile;
}

/** `+extra_calendars*2+sms_pack*1`: a set of add-ons with quantities, in name order; '' for none. */
export function addonsKey(addons: AddonQuantities): string {
  if (addons.size === 0) return '';
  const parts = [...addons].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // Joined, not appended: one flat string, not a rope that each lookup would walk.
  return parts.map(([addon, quantity]) => `+${addon}*${quantity}`).join('');
}

/** What a plan version and add-ons give one feature, before overrides. */
export interface ProfileValue {
  readonly value: FeatureValue;
  readonly source: 'plan' | 'addon' | 'default';
  /** The plan of the `extends` chain that set the plan's value, when a plan set it. */
  readonly definedBy: string | undefined;
  /** The version decisions used: the tenant's when the policy has it, else the plan's current one. */
  readonly version: number;
  /** The add-ons that changed the value, in name order. */
  readonly addons: readonly string[];
}

/**
 * The value a plan at `version` with `addons` gives a feature; undefined for a plan the policy
 * lacks. A version the policy no longer has reads as the current one. An add-on the plan may not
 * hold gives nothing. Numbers and meter allowances add per unit (a number stays within the
 * feature's maximum; `unlimited` stays unlimited), `true` grants.
 */
export function profileValue(
  snapshot: PolicySnapshot,
  feature: FeatureDefinition,
  planKey: string,
  version: number,
  addons: AddonQuantities,
): ProfileValue | undefined {
  const plan = snapshot.plans.get(planKey);
  if (!plan) return undefined;
  const definition = plan.versions.get(version) ?? plan.versions.get(plan.version);
  const given = definition?.values.get(feature.key);
  let value = given ? given.value : feature.default;
  const contributed: string[] = [];
  for (const [addonKey, quantity] of [...addons].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const addon = snapshot.addons.get(addonKey);
    const unit = addon?.values.get(feature.key);
    if (!addon || unit === undefined || (addon.availableOn && !addon.availableOn.includes(planKey))) continue;
    const next = addUnits(feature, value, unit, quantity);
    if (next === value) continue;
    value = next;
    contributed.push(addonKey);
  }
  return {
    value,
    source: contributed.length > 0 ? 'addon' : given ? 'plan' : 'default',
    definedBy: given?.definedBy,
    version: definition?.version ?? plan.version,
    addons: contributed,
  };
}

function addUnits(feature: FeatureDefinition, value: FeatureValue, unit: FeatureValue, quantity: number): FeatureValue {
  if (feature.type === 'boolean') return unit === true ? true : value;
  if (feature.type === 'meter') {
    if (value === UNLIMITED || unit === UNLIMITED) return UNLIMITED;
    return typeof value === 'number' && typeof unit === 'number' ? value + unit * quantity : value;
  }
  if (feature.type === 'number' && typeof value === 'number' && typeof unit === 'number') {
    const sum = value + unit * quantity;
    return feature.maximum !== undefined ? Math.min(sum, feature.maximum) : sum;
  }
  return value;
}

/** Whether a value from add-ons grants the feature (for the decision's cause). */
export function grantedByAddon(feature: FeatureDefinition, profile: ProfileValue): boolean {
  return profile.source === 'addon' && isGranted(feature.type, profile.value);
}
