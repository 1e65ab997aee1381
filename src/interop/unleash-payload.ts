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
  const all = [...tenants].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const byPlan = new Map<string, string[]>();
  let validUntil = Number.POSITIVE_INFINITY;
  for (const tenant of all) {
    const list = byPlan.get(tenant.plan) ?? [];
    list.push(tenant.id);
    byPlan.set(tenant.plan, list);
    for (const override of tenant.overrides.values()) {
      if (override.expiresAtMs !== null && override.expiresAtMs > now)
        validUntil = Math.min(validUntil, override.expiresAtMs);
    }
    // A grace period or a paid period ending changes the tenant's plan then, with no write.
    const billingUntil = tenant.billing ? billingOf(policy, tenant.billing, now)?.validUntil : undefined;
    if (billingUntil !== undefined && billingUntil !== null) validUntil = Math.min(validUntil, billingUntil);
  }
  const segmentIds = new Map<string, number>();
  const segments = [...byPlan].map(([plan, ids], index) => {
    segmentIds.set(plan, index + 1);
    return { id: index + 1, name: `entitle-plan-${plan}`, constraints: [tenantConstraint('IN', ids)] };
  });

  const features: UnleashPayload['features'] = [];
  for (const feature of policy.features.values()) {
    if (feature.type !== 'boolean') continue;
    const on = new Map<string, string[]>();
    const off = new Map<string, string[]>();
    for (const tenant of all) {
      const decision = decide(policy, tenant, feature.key, now);
      const enabled =
        decision !== undefined &&
        decision.value === true &&
        heldBackBy(decision, releases, { tenantId: tenant.id }) === undefined;
      const lists = enabled ? on : off;
      const list = lists.get(tenant.plan) ?? [];
      list.push(tenant.id);
      lists.set(tenant.plan, list);
    }
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
      strategies.push({
        name: 'default',
        parameters: {},
        constraints: [
          tenantConstraint(
            'NOT_IN',
            all.map((tenant) => tenant.id),
          ),
        ],
      });
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
    payload: { version: 2, features, segments, meta: { policyVersion: policy.version, tenants: all.length } },
    validUntil,
  };
}
