// What a tenant's plan gives before overrides: the plan at the tenant's version, then its add-ons.
// Worked out once per (plan, version, add-on set) and policy, never per decision: a tenant carries
// an interned `profile` key naming that combination, and decisions are cached by it.

import { isGranted } from '../policy/compile.js';
import { UNLIMITED, type FeatureDefinition, type FeatureValue, type PolicySnapshot } from '../policy/types.js';

/** The add-ons a tenant holds: add-on → quantity (at least 1). */
export type AddonQuantities = ReadonlyMap<string, number>;

export const NO_ADDONS: AddonQuantities = new Map();

const profiles = new Map<string, string>();

/**
 * The key naming a plan version with a set of add-ons: `pro@1`, `pro@2+extra_calendars*2`. One
 * string per key however many tenants share it (bounded), so tenants cost little memory.
 */
export function profileKey(plan: string, version: number, addons: AddonQuantities): string {
  let key = `${plan}@${version}`;
  if (addons.size > 0) {
    const parts = [...addons].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    // Joined, not appended: one flat string, not a rope that each lookup would walk.
    key = [key, ...parts.map(([addon, quantity]) => `+${addon}*${quantity}`)].join('');
  }
  const known = profiles.get(key);
  if (known !== undefined) return known;
  if (profiles.size < 100_000) profiles.set(key, key);
  return key;
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
