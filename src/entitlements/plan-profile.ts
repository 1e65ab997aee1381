// What a tenant's plan gives before overrides: the plan at the tenant's version, then its add-ons.
// Worked out once per (plan, version, add-on set) and policy, never per decision: a tenant carries
// the shared `PlanProfile` of that combination, and decisions are cached on it.

import { isGranted } from '../policy/compile.js';
import { UNLIMITED, type FeatureDefinition, type FeatureValue, type PolicySnapshot } from '../policy/types.js';

/** The add-ons a tenant holds: add-on → quantity (at least 1). */
export type AddonQuantities = ReadonlyMap<string, number>;

export const NO_ADDONS: AddonQuantities = new Map();

/**
 * A plan version with a set of add-ons: what a tenant's decisions depend on before overrides. One
 * object per combination however many tenants share it (bounded), so tenants cost little memory,
 * and decision tables keep a profile's decisions on it, by feature, with no lookup by key.
 */
export class PlanProfile {
  #owner: object | undefined;
  #slots: unknown[] = [];
  #others: WeakMap<object, unknown[]> | undefined;
  /** The plan version without add-ons (this profile when it has none): what features no add-on touches read. */
  readonly base: PlanProfile;

  constructor(
    /** `pro@1`, `pro@2+extra_calendars*2`: names the combination. */
    readonly key: string,
    readonly plan: string,
    readonly version: number,
    readonly addons: AddonQuantities,
    base?: PlanProfile,
  ) {
    this.base = base ?? this;
  }

  /**
   * The slots `owner` (a decision table) keeps for this profile, `size` of them, empty at first.
   * The last owner's are at hand: nearly every call asks for the policy in force.
   */
  slots<T>(owner: object, size: number): (T | undefined)[] {
    if (owner === this.#owner) return this.#slots as (T | undefined)[];
    this.#others ??= new WeakMap();
    if (this.#owner !== undefined) this.#others.set(this.#owner, this.#slots);
    let slots = this.#others.get(owner);
    if (slots === undefined) {
      // Filled with undefined, not holes: a packed array stays on the fast path.
      slots = Array.from({ length: size }, () => undefined);
      this.#others.set(owner, slots);
    }
    this.#owner = owner;
    this.#slots = slots;
    return slots as (T | undefined)[];
  }
}

const profiles = new Map<string, PlanProfile>();

/** The profile of a plan at `version` with `addons`: one object per combination (up to 100,000 of them). */
export function planProfile(plan: string, version: number, addons: AddonQuantities): PlanProfile {
  const key = addons.size === 0 ? `${plan}@${version}` : `${plan}@${version}${addonsKey(addons)}`;
  const known = profiles.get(key);
  if (known !== undefined) return known;
  const base = addons.size === 0 ? undefined : planProfile(plan, version, NO_ADDONS);
  const profile = new PlanProfile(key, plan, version, addons, base);
  if (profiles.size < 100_000) profiles.set(key, profile);
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
