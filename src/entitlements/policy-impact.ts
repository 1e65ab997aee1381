// What a proposed policy would change for real tenants, feature by feature: reviewed in a pull
// request like code ("revokes can_use_webhooks from 37 tenants on plan pro").
//
// A restriction counts as a revocation: losing a feature, and a numeric limit going down while
// staying above zero ("lowered", e.g. max_connected_calendars 6 → 1), and a meter's allowance
// going down (sms_reminders_per_month unlimited → 5000, or 500 → 100). A string value moving to
// another allowed value is only "changed": the policy format gives string values no order.

import { UNLIMITED, type FeatureType, type FeatureValue, type PolicySnapshot } from '../policy/types.js';
import { decide, type TenantState } from './decide.js';

/** One kind of change for one feature, counted per plan. */
export interface FeatureImpact {
  readonly feature: string;
  /** Tenants that lose the feature (granted → not granted). */
  readonly revoked: number;
  /** Tenants that keep a numeric feature with a lower limit: a restriction, reviewed like a revocation. */
  readonly lowered: number;
  /** Tenants that gain it. */
  readonly granted: number;
  /** Tenants whose value changes otherwise (a limit from 2 to 5, another string value). */
  readonly changed: number;
  /** The same counts by the tenant's plan. */
  readonly byPlan: Readonly<Record<string, Readonly<Counts>>>;
  /** Up to `sampleSize` tenants of each kind, for a reviewer to look at. */
  readonly examples: readonly {
    readonly tenant: string;
    readonly plan: string;
    readonly before: FeatureValue | null;
    readonly after: FeatureValue | null;
  }[];
  /** A sentence per plan, e.g. "revokes can_use_webhooks from 37 tenants on plan pro". */
  readonly summary: readonly string[];
}

export interface PolicyImpact {
  readonly fromVersion: string;
  readonly toVersion: string;
  readonly tenants: number;
  readonly addedFeatures: readonly string[];
  readonly removedFeatures: readonly string[];
  /** Features whose decisions change for at least one tenant. */
  readonly features: readonly FeatureImpact[];
  /** Whether any tenant loses a feature or gets a lower limit. */
  readonly revokes: boolean;
}

export type Kind = 'revoked' | 'lowered' | 'granted' | 'changed';
type Counts = Record<Kind, number>;

/** What the definition of "loses" needs of a decision: its feature's type, its value, whether it grants. */
export interface ComparedValue {
  readonly feature: { readonly type: FeatureType };
  readonly value: FeatureValue;
  readonly granted: boolean;
}

/**
 * How one tenant's value changes, if it does: `revoked` and `lowered` are what a tenant loses
 * (the one definition of a loss, for `policy diff`, reload checks and migrations).
 */
export function kindOf(before: ComparedValue | undefined, after: ComparedValue | undefined): Kind | undefined {
  const wasGranted = before?.granted ?? false;
  const isGranted = after?.granted ?? false;
  if (wasGranted && !isGranted) return 'revoked';
  if (!wasGranted && isGranted) return 'granted';
  if (before?.value === after?.value) return undefined;
  if (wasGranted && before && after && isLower(after, before)) return 'lowered';
  return 'changed';
}

/** A lower numeric limit, or a lower meter allowance (`unlimited` above every number). */
function isLower(after: ComparedValue, before: ComparedValue): boolean {
  const rank = (decision: ComparedValue): number | undefined => {
    const { value } = decision;
    if (decision.feature.type === 'meter' && value === UNLIMITED) return Number.POSITIVE_INFINITY;
    return typeof value === 'number' ? value : undefined;
  };
  const was = rank(before);
  const is = rank(after);
  return was !== undefined && is !== undefined && is < was;
}

export function policyImpact(
  current: PolicySnapshot,
  proposed: PolicySnapshot,
  tenants: Iterable<TenantState>,
  now: number,
  sampleSize = 5,
): PolicyImpact {
  const tally = new ImpactTally(current, proposed, now, sampleSize);
  for (const tenant of tenants) tally.add(tenant);
  return tally.result();
}

/** {@link policyImpact} over tenants read in pages (the store's): no more than a page in memory at once. */
export async function policyImpactOfPages(
  current: PolicySnapshot,
  proposed: PolicySnapshot,
  pages: AsyncIterable<readonly TenantState[]>,
  now: number,
  sampleSize = 5,
): Promise<PolicyImpact> {
  const tally = new ImpactTally(current, proposed, now, sampleSize);
  for await (const page of pages) for (const tenant of page) tally.add(tenant);
  return tally.result();
}

/** The impact counted one tenant at a time. */
class ImpactTally {
  readonly #keys: ReadonlySet<string>;
  readonly #counts = new Map<string, Mutable>();
  #tenants = 0;

  constructor(
    private readonly current: PolicySnapshot,
    private readonly proposed: PolicySnapshot,
    private readonly now: number,
    private readonly sampleSize: number,
  ) {
    this.#keys = new Set([...current.features.keys(), ...proposed.features.keys()]);
  }

  add(tenant: TenantState): void {
    this.#tenants++;
    for (const key of this.#keys) {
      const before = decide(this.current, tenant, key, this.now);
      const after = decide(this.proposed, tenant, key, this.now);
      const kind = kindOf(before, after);
      if (kind === undefined) continue;
      let entry = this.#counts.get(key);
      if (!entry)
        this.#counts.set(key, (entry = { revoked: 0, lowered: 0, granted: 0, changed: 0, byPlan: {}, examples: [] }));
      entry[kind]++;
      const plan = (entry.byPlan[tenant.plan] ??= { revoked: 0, lowered: 0, granted: 0, changed: 0 });
      plan[kind]++;
      if (entry.examples.filter((e) => e.kind === kind).length < this.sampleSize) {
        entry.examples.push({
          kind,
          tenant: tenant.id,
          plan: tenant.plan,
          before: before?.value ?? null,
          after: after?.value ?? null,
        });
      }
    }
  }

  result(): PolicyImpact {
    const { current, proposed } = this;
    const features: FeatureImpact[] = [...this.#counts].map(([feature, entry]) => ({
      feature,
      revoked: entry.revoked,
      lowered: entry.lowered,
      granted: entry.granted,
      changed: entry.changed,
      byPlan: entry.byPlan,
      examples: entry.examples.map(({ kind: _kind, ...example }) => example),
      summary: Object.entries(entry.byPlan).flatMap(([plan, c]) => [
        ...(c.revoked ? [`revokes ${feature} from ${tenantsText(c.revoked)} on plan ${plan}`] : []),
        ...(c.lowered ? [`lowers ${feature} for ${tenantsText(c.lowered)} on plan ${plan}`] : []),
        ...(c.granted ? [`grants ${feature} to ${tenantsText(c.granted)} on plan ${plan}`] : []),
        ...(c.changed ? [`changes ${feature} for ${tenantsText(c.changed)} on plan ${plan}`] : []),
      ]),
    }));
    return {
      fromVersion: current.version,
      toVersion: proposed.version,
      tenants: this.#tenants,
      addedFeatures: [...proposed.features.keys()].filter((key) => !current.features.has(key)),
      removedFeatures: [...current.features.keys()].filter((key) => !proposed.features.has(key)),
      features,
      revokes: features.some((feature) => feature.revoked > 0 || feature.lowered > 0),
    };
  }
}

interface Mutable extends Counts {
  byPlan: Record<string, Counts>;
  examples: { kind: Kind; tenant: string; plan: string; before: FeatureValue | null; after: FeatureValue | null }[];
}

function tenantsText(count: number): string {
  return count === 1 ? '1 tenant' : `${count} tenants`;
}
