// Entitle's boolean decisions as an Unleash client API payload: any Unleash SDK evaluates them
// in-process from the `tenantId` context field. Compact: one segment per plan lists its tenants
// once; each toggle has a strategy per granting plan (minus the tenants an override revokes)
// and one for the tenants an override grants. Number and string features have no Unleash
// equivalent and are left out (use OFREP for them).

import { decide, type TenantState } from '../entitlements/decide.js';
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
  features: { name: string; description: string; type: 'release'; project: 'default'; enabled: true; stale: false; impressionData: false; variants: []; strategies: Strategy[] }[];
  segments: { id: number; name: string; constraints: Constraint[] }[];
  meta: { policyVersion: string; tenants: number };
}

const tenantConstraint = (operator: 'IN' | 'NOT_IN', values: string[]): Constraint => ({ contextName: 'tenantId', operator, values, inverted: false, caseInsensitive: false });

/**
 * Builds the payload at time `now`. Also returns when it stops being right (the next override
 * expiry), so a cache can rebuild it then.
 */
export function buildUnleashPayload(policy: PolicySnapshot, tenants: Iterable<TenantState>, now: number): { payload: UnleashPayload; validUntil: number } {
  const all = [...tenants].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const byPlan = new Map<string, string[]>();
  let validUntil = Number.POSITIVE_INFINITY;
  for (const tenant of all) {
    const list = byPlan.get(tenant.plan) ?? [];
    list.push(tenant.id);
    byPlan.set(tenant.plan, list);
    for (const override of tenant.overrides.values()) {
      if (override.expiresAtMs !== null && override.expiresAtMs > now) validUntil = Math.min(validUntil, override.expiresAtMs);
    }
  }
  const segmentIds = new Map<string, number>();
  const segments = [...byPlan].map(([plan, ids], index) => {
    segmentIds.set(plan, index + 1);
    return { id: index + 1, name: `entitle-plan-${plan}`, constraints: [tenantConstraint('IN', ids)] };
  });

  const features: UnleashPayload['features'] = [];
  for (const feature of policy.features.values()) {
    if (feature.type !== 'boolean') continue;
    const planGrants = new Map<string, boolean>();
    const revoked = new Map<string, string[]>();
    const granted: string[] = [];
    const known: string[] = [];
    for (const tenant of all) {
      let grantsByPlan = planGrants.get(tenant.plan);
      if (grantsByPlan === undefined) {
        grantsByPlan = decide(policy, { ...tenant, overrides: new Map() }, feature.key, now)?.value === true;
        planGrants.set(tenant.plan, grantsByPlan);
      }
      const value = decide(policy, tenant, feature.key, now)?.value === true;
      if (grantsByPlan && !value) revoked.set(tenant.plan, [...(revoked.get(tenant.plan) ?? []), tenant.id]);
      if (!grantsByPlan && value) granted.push(tenant.id);
      known.push(tenant.id);
    }
    const strategies: Strategy[] = [];
    for (const [plan, grants] of planGrants) {
      if (!grants) continue;
      const excluded = revoked.get(plan);
      strategies.push({ name: 'default', parameters: {}, segments: [segmentIds.get(plan) as number], constraints: excluded ? [tenantConstraint('NOT_IN', excluded)] : [] });
    }
    if (granted.length > 0) strategies.push({ name: 'default', parameters: {}, constraints: [tenantConstraint('IN', granted)] });
    // Unknown tenants get the feature's default.
    if (feature.default === true) strategies.push({ name: 'default', parameters: {}, constraints: [tenantConstraint('NOT_IN', known)] });
    // No strategy would mean "on for everyone" in Unleash: an impossible constraint keeps it off.
    if (strategies.length === 0) strategies.push({ name: 'default', parameters: {}, constraints: [tenantConstraint('IN', [])] });
    features.push({ name: feature.key, description: feature.name, type: 'release', project: 'default', enabled: true, stale: false, impressionData: false, variants: [], strategies });
  }
  return { payload: { version: 2, features, segments, meta: { policyVersion: policy.version, tenants: all.length } }, validUntil };
}
