// Entitle's boolean decisions as an Unleash client API payload: any Unleash SDK evaluates them
// in-process from the `tenantId` context field. Compact: one segment per plan lists its tenants
// once; a toggle has a strategy per plan where most tenants have the feature (minus the
// tenants that do not: an override, a release toggle) and one listing the remaining tenants
// that have it. Number and string features have no Unleash equivalent and are left out (use
// OFREP for them).

import { billingOf, decide, type TenantState } from '../entitlements/decide.js';
import { heldBackBy, type ReleaseSwitch } from '../entitlements/release-switch.js';
import type { PolicySnapshot } from '../policy/types.js';

interface Constraint {
  contextName: 'tenantId';
  operator: 'IN' | 'NOT_IN';
  values: string[];
  inverted: false;
  caseInsensitive: false;
}

interface Strategy {
  name: 'default';
  parameters: Record<string, never>;
  constraints: Constraint[];
  segments?: number[];
}

export interface UnleashPayload {
  version: 2;
  features: {
    name: string;
    description: string;
    type: 'release';
    project: 'default';
    enabled: true;
    stale: false;
    impressionData: false;
    variants: [];
    strategies: Strategy[];
  }[];
  segments: { id: number; name: string; constraints: Constraint[] }[];
  meta: { policyVersion: string; tenants: number };
}

const tenantConstraint = (operator: 'IN' | 'NOT_IN', values: string[]): Constraint => ({
  contextName: 'tenantId',
  operator,
  values,
  inverted: false,
  caseInsensitive: false,
});

/**
 * Builds the payload at time `now`: every tenant gets exactly the provider's decision, release
 * toggles included (evaluated per tenant, without a user). Also returns when it stops being
 * right (the next override expiry or billing change in time), so a cache can rebuild it then; a release toggle change
 * must invalidate it too.
 */
export function buildUnleashPayload(
  policy: PolicySnapshot,
  tenants: Iterable<TenantState>,
  now: number,
  releases?: ReleaseSwitch,
): { payload: UnleashPayload; validUntil: number } {
  const builder = new UnleashPayloadBuilder(policy, now, releases);
  for (const tenant of [...tenants].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) builder.add(tenant);
  return builder.finish();
}

/** {@link buildUnleashPayload} over tenants read in pages, in order of id: a page of tenants in memory at a time. */
export async function buildUnleashPayloadOfPages(
  policy: PolicySnapshot,
  pages: AsyncIterable<readonly TenantState[]>,
  now: number,
  releases?: ReleaseSwitch,
): Promise<{ payload: UnleashPayload; validUntil: number }> {
  const builder = new UnleashPayloadBuilder(policy, now, releases);
  for await (const page of pages) for (const tenant of page) builder.add(tenant);
  return builder.finish();
}

/** The payload's lists, filled one tenant at a time (in order of id); only ids are kept. */
class UnleashPayloadBuilder {
  readonly #byPlan = new Map<string, string[]>();
  readonly #ids: string[] = [];
  /** Per boolean feature: per plan, the tenants that have it and those that do not. */
  readonly #lists = new Map<string, { on: Map<string, string[]>; off: Map<string, string[]> }>();
  #validUntil = Number.POSITIVE_INFINITY;

  constructor(
    private readonly policy: PolicySnapshot,
    private readonly now: number,
    private readonly releases: ReleaseSwitch | undefined,
  ) {
    for (const feature of policy.features.values())
      if (feature.type === 'boolean') this.#lists.set(feature.key, { on: new Map(), off: new Map() });
  }

  add(tenant: TenantState): void {
    const { policy, now, releases } = this;
    this.#ids.push(tenant.id);
    push(this.#byPlan, tenant.plan, tenant.id);
    for (const override of tenant.overrides.values()) {
      if (override.expiresAtMs !== null && override.expiresAtMs > now)
        this.#validUntil = Math.min(this.#validUntil, override.expiresAtMs);
    }
    // A grace period or a paid period ending changes the tenant's plan then, with no write.
    const billingUntil = tenant.billing ? billingOf(policy, tenant.billing, now)?.validUntil : undefined;
    if (billingUntil !== undefined && billingUntil !== null)
      this.#validUntil = Math.min(this.#validUntil, billingUntil);
    for (const [key, { on, off }] of this.#lists) {
      const decision = decide(policy, tenant, key, now);
      const enabled =
        decision !== undefined &&
        decision.value === true &&
        heldBackBy(decision, releases, { tenantId: tenant.id }) === undefined;
      push(enabled ? on : off, tenant.plan, tenant.id);
    }
  }

  finish(): { payload: UnleashPayload; validUntil: number } {
    const { policy, releases } = this;
    const byPlan = this.#byPlan;
    const segmentIds = new Map<string, number>();
    const segments = [...byPlan].map(([plan, ids], index) => {
      segmentIds.set(plan, index + 1);
      return { id: index + 1, name: `entitle-plan-${plan}`, constraints: [tenantConstraint('IN', ids)] };
    });
    const features: UnleashPayload['features'] = [];
    for (const feature of policy.features.values()) {
      const lists = this.#lists.get(feature.key);
      if (!lists) continue;
      const { on, off } = lists;
      const strategies: Strategy[] = [];
      const listed: string[] = [];
      for (const plan of byPlan.keys()) {
        const enabled = on.get(plan) ?? [];
        const disabled = off.get(plan) ?? [];
        // Whichever is shorter is spelled out: the plan's segment minus the exceptions, or the tenants one by one.
        if (enabled.length > disabled.length) {
          strategies.push({
            name: 'default',
            parameters: {},
            segments: [segmentIds.get(plan) as number],
            constraints: disabled.length > 0 ? [tenantConstraint('NOT_IN', disabled)] : [],
          });
        } else {
          listed.push(...enabled);
        }
      }
      if (listed.length > 0)
        strategies.push({ name: 'default', parameters: {}, constraints: [tenantConstraint('IN', listed.sort())] });
      // Unknown tenants get the feature's default; behind a release switch the toggle cannot be
      // evaluated here for a tenant nobody knows yet, so they get the closed side.
      const switched = feature.rollout !== undefined && releases !== undefined;
      if (feature.default === true && !switched)
        strategies.push({ name: 'default', parameters: {}, constraints: [tenantConstraint('NOT_IN', [...this.#ids])] });
      // No strategy would mean "on for everyone" in Unleash: an impossible constraint keeps it off.
      if (strategies.length === 0)
        strategies.push({ name: 'default', parameters: {}, constraints: [tenantConstraint('IN', [])] });
      features.push({
        name: feature.key,
        description: feature.name,
        type: 'release',
        project: 'default',
        enabled: true,
        stale: false,
        impressionData: false,
        variants: [],
        strategies,
      });
    }
    return {
      payload: { version: 2, features, segments, meta: { policyVersion: policy.version, tenants: this.#ids.length } },
      validUntil: this.#validUntil,
    };
  }
}

function push(lists: Map<string, string[]>, plan: string, id: string): void {
  const list = lists.get(plan);
  if (list) list.push(id);
  else lists.set(plan, [id]);
}
