// The shapes of a policy: what the YAML files say, and the compiled snapshot decisions read.

/** The value types a feature may have. A meter's value is its allowance per period. */
export type FeatureType = 'boolean' | 'number' | 'string' | 'meter';

/** A feature's value: what a plan, an override or a default gives. */
export type FeatureValue = boolean | number | string;

/** How often a meter's allowance starts afresh; `none`: a lifetime allowance. */
export type MeterPeriod = 'hour' | 'day' | 'week' | 'month' | 'none';

/** Where period boundaries fall: UTC calendar boundaries, or the tenant's billing cycle anchor (calendar until billing sync exists). */
export type MeterReset = 'calendar' | 'billing';

/** The allowance value that sets no limit. */
export const UNLIMITED = 'unlimited';

/** What makes a feature a meter: the unit shown to people and the period its allowance covers. */
export interface MeterSpec {
  readonly unit: string;
  readonly period: MeterPeriod;
  readonly reset: MeterReset;
}

/** Where in a policy file something stands (1-based line and column). */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** One problem found in a policy, always with its position. */
export interface PolicyIssue extends SourcePosition {
  readonly message: string;
}

/** A feature as written in a policy file. */
export interface FeatureSpec {
  readonly name: string;
  readonly description: string;
  readonly type: FeatureType;
  readonly default: FeatureValue;
  /** Shown when the feature is not available to a tenant (required, non-empty). */
  readonly upgradeMessage: string;
  /** For string features: the only values plans and overrides may give. */
  readonly values?: readonly string[];
  /** Release switch: the feature is on only when this Unleash toggle is on for the tenant too. */
  readonly rollout?: { readonly unleash: string };
  /** For meters: the unit shown to people (e.g. "SMS"). */
  readonly unit?: string;
  /** For meters: how often the allowance starts afresh. */
  readonly period?: MeterPeriod;
  /** For meters: where period boundaries fall (default `calendar`). */
  readonly reset?: MeterReset;
  /** Number features: whole numbers only. */
  readonly integer?: boolean;
  /** Number features: the bounds every value (default, plan, override) must keep. */
  readonly minimum?: number;
  readonly maximum?: number;
}

/** What a value must satisfy beyond the feature's type: allowed strings, number constraints. */
export interface ValueConstraints {
  readonly values?: readonly string[] | undefined;
  readonly integer?: boolean | undefined;
  readonly minimum?: number | undefined;
  readonly maximum?: number | undefined;
}

/** An earlier version of a plan as written under `versions`. */
export interface PlanVersionSpec {
  /** `free` or `free@1`; default: the plan's own `extends`. */
  readonly extends?: string;
  readonly features?: Readonly<Record<string, FeatureValue>>;
}

/** A plan as written in a policy file. */
export interface PlanSpec {
  readonly name?: string;
  readonly description?: string;
  /** `free` (its current version) or `free@1`. */
  readonly extends?: string;
  /** The current version (default 1): its values are `features`. */
  readonly version?: number;
  readonly features?: Readonly<Record<string, FeatureValue>>;
  /** Earlier versions by number, kept for the tenants on them. */
  readonly versions?: Readonly<Record<string, PlanVersionSpec>>;
  /** The billing prices that put a tenant on this plan, by billing provider. */
  readonly billing?: { readonly stripe?: { readonly prices: readonly string[] } };
}

/** The top-level `billing` section as written in a policy file. */
export interface BillingSettingsSpec {
  readonly fallbackPlan: string;
  readonly gracePeriodDays?: number;
}

/** One policy file's content, as the JSON Schema allows it. */
export interface PolicyFileContent {
  readonly features?: Readonly<Record<string, FeatureSpec>>;
  readonly plans?: Readonly<Record<string, PlanSpec>>;
  readonly addons?: Readonly<Record<string, AddonSpec>>;
  readonly billing?: BillingSettingsSpec;
}

/** The billing systems a plan can name prices of. Only Stripe is built. */
export type BillingProviderName = 'stripe';

/** How billing drives plans, compiled: present when the policy has a `billing` section. */
export interface BillingPolicy {
  /** The plan of a billed tenant without a live subscription. */
  readonly fallbackPlan: string;
  readonly gracePeriodDays: number;
  /** Price (lookup key or id) → plan, per billing provider. */
  readonly prices: ReadonlyMap<BillingProviderName, ReadonlyMap<string, string>>;
  /** Price (lookup key or id) → add-on, per billing provider. */
  readonly addonPrices: ReadonlyMap<BillingProviderName, ReadonlyMap<string, string>>;
}

/** A feature in a compiled snapshot. */
export interface FeatureDefinition {
  readonly key: string;
  readonly name: string;
  readonly description: string;
  readonly type: FeatureType;
  readonly default: FeatureValue;
  readonly upgradeMessage: string;
  readonly values: readonly string[] | undefined;
  readonly rollout: { readonly unleash: string } | undefined;
  /** For meters (type `meter`): unit, period and reset; undefined for every other type. */
  readonly meter: MeterSpec | undefined;
  /** The lowest plan (in declaration order) that grants the feature, if any. */
  readonly requiredPlan: string | undefined;
  /** Number features that declare them: whole numbers only, and bounds (present only when declared). */
  readonly integer?: true;
  readonly minimum?: number;
  readonly maximum?: number;
}

/** A value a plan gives a feature, and which plan of its `extends` chain set it. */
export interface PlanValue {
  readonly value: FeatureValue;
  readonly definedBy: string;
}

/** One version of a plan in a compiled snapshot, with `extends` flattened. */
export interface PlanVersionDefinition {
  readonly version: number;
  /** The plan version it starts from, e.g. `free@1`. */
  readonly extends: string | undefined;
  /** The plan itself, then its parent, then the parent's parent… */
  readonly chain: readonly string[];
  /** Every feature the version or its ancestors set. */
  readonly values: ReadonlyMap<string, PlanValue>;
  /** Where the version's own values stand in the policy (when compiled from files). */
  readonly positions: ReadonlyMap<string, SourcePosition>;
  /** Where the version itself stands (the plan's key, or `versions.<n>`). */
  readonly position: SourcePosition | undefined;
}

/** A plan in a compiled snapshot: its current version's values at the top, every version below. */
export interface PlanDefinition {
  readonly key: string;
  readonly name: string;
  readonly description: string;
  readonly extends: string | undefined;
  /** The current version: what new tenants get. */
  readonly version: number;
  /** The current version's chain: the plan itself, then its parent, then the parent's parent… */
  readonly chain: readonly string[];
  /** Every feature the current version or its ancestors set. */
  readonly values: ReadonlyMap<string, PlanValue>;
  /** Every version, the current one included, in ascending order. */
  readonly versions: ReadonlyMap<number, PlanVersionDefinition>;
}

/** An add-on as written in a policy file. */
export interface AddonSpec {
  readonly name?: string;
  readonly description?: string;
  /** Plans that may hold it; absent: every plan. */
  readonly availableOn?: readonly string[];
  /** Per unit of quantity: a number or a meter allowance adds, `true` grants. */
  readonly features: Readonly<Record<string, FeatureValue>>;
  readonly billing?: { readonly stripe?: { readonly prices: readonly string[] } };
}

/** An add-on in a compiled snapshot. */
export interface AddonDefinition {
  readonly key: string;
  readonly name: string;
  readonly description: string;
  /** Plans that may hold it; undefined: every plan. */
  readonly availableOn: readonly string[] | undefined;
  /** What one unit gives, by feature key (numbers and allowances add per unit, `true` grants). */
  readonly values: ReadonlyMap<string, FeatureValue>;
}

/**
 * An immutable, compiled policy. Decisions read it without parsing anything; a reload
 * replaces the whole object.
 */
export interface PolicySnapshot {
  /** Content hash of the policy: equal content, equal version. */
  readonly version: string;
  readonly features: ReadonlyMap<string, FeatureDefinition>;
  /** Plans in declaration order: lowest first. */
  readonly plans: ReadonlyMap<string, PlanDefinition>;
  /** The files the policy was read from, in load order. */
  readonly files: readonly string[];
  /** How billing drives plans; undefined when the policy has no `billing` section. */
  readonly billing: BillingPolicy | undefined;
  /** Add-ons tenants may hold beside their plan, in declaration order. */
  readonly addons: ReadonlyMap<string, AddonDefinition>;
}
