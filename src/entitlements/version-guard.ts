// A plan version is what tenants were sold: a policy that changes a version tenants are on so
// that they would lose something (a feature off, a lower limit or allowance: `policy diff`'s
// "loses") is refused, with the position, the version and how many tenants are on it. Grants
// and new features in place are fine; a change for new tenants is a new version.

import { isGranted } from '../policy/compile.js';
import type { FeatureDefinition, PolicyIssue, PolicySnapshot, SourcePosition } from '../policy/types.js';
import { NO_ADDONS, profileValue, type ProfileValue } from './plan-profile.js';
import { kindOf } from './policy-impact.js';
import type { TenantRepository } from '../store/store.js';

/** Where tenants stand: how many are on each plan version (their stored plan). */
export type VersionCounts = ReadonlyMap<string, ReadonlyMap<number, number>>;

/** Counts tenants per plan and version from the store (one aggregate query: no tenant is read into memory). */
export async function storedVersionCounts(tenants: Pick<TenantRepository, 'versionCounts'>): Promise<VersionCounts> {
  const counts = new Map<string, Map<number, number>>();
  for (const { plan, planVersion, tenants: count } of await tenants.versionCounts()) {
    let versions = counts.get(plan);
    if (!versions) counts.set(plan, (versions = new Map()));
    versions.set(planVersion, count);
  }
  return counts;
}

/**
 * Every loss the proposed policy would cause on a plan version tenants are on, as issues at
 * their position in the proposed policy. Empty when the proposal keeps every version as sold.
 */
export function versionLosses(current: PolicySnapshot, proposed: PolicySnapshot, counts: VersionCounts): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  for (const [planKey, versions] of counts) {
    if (!current.plans.has(planKey)) continue;
    for (const [version, tenants] of versions) {
      for (const feature of current.features.values()) {
        const next = proposed.features.get(feature.key);
        // A feature taken out of the policy, or retyped, is a change of the feature, not of a version.
        if (!next || next.type !== feature.type) continue;
        const before = profileValue(current, feature, planKey, version, NO_ADDONS);
        const after = profileValue(proposed, next, planKey, version, NO_ADDONS);
        if (!before || (before.source !== 'plan' && after?.source !== 'plan')) continue;
        const kind = kindOf(compared(feature, before), after ? compared(next, after) : undefined);
        if (kind !== 'revoked' && kind !== 'lowered') continue;
        issues.push(lossIssue(proposed, planKey, before.version, feature.key, tenants, kind, before, after));
      }
    }
  }
  return issues;
}

function compared(feature: FeatureDefinition, value: ProfileValue) {
  return { feature, value: value.value, granted: isGranted(feature.type, value.value) };
}

function lossIssue(
  proposed: PolicySnapshot,
  planKey: string,
  version: number,
  feature: string,
  tenants: number,
  kind: 'revoked' | 'lowered',
  before: ProfileValue,
  after: ProfileValue | undefined,
): PolicyIssue {
  const plan = proposed.plans.get(planKey);
  const definition = plan?.versions.get(version);
  const ownValue = definition?.positions.get(feature);
  const position: SourcePosition = ownValue ??
    definition?.position ??
    plan?.versions.get(plan.version)?.position ?? { file: proposed.files[0] ?? 'policy', line: 1, column: 1 };
  const path = plan && version !== plan.version ? `plans.${planKey}.versions.${version}` : `plans.${planKey}`;
  const where = ownValue ? `${path}.features.${feature}` : path;
  const verb = kind === 'revoked' ? `takes ${feature} away from` : `lowers ${feature} for`;
  const change = `${JSON.stringify(before.value)} → ${after ? JSON.stringify(after.value) : 'absent'}`;
  const inherited =
    after?.definedBy !== undefined && after.definedBy !== planKey ? `, inherited from plan ${after.definedBy}` : '';
  const count = tenants === 1 ? '1 tenant is' : `${tenants} tenants are`;
  const bump =
    plan && version === plan.version
      ? `give the change a new version ("version: ${version + 1}", version ${version}'s values under "versions: { ${version}: … }")`
      : `keep version ${version} as it was sold`;
  return {
    ...position,
    message: `${where}: ${verb} version ${version} of plan ${planKey}, which ${count} on (${change}${inherited}); ${bump} and move tenants with "entitle plans migrate ${planKey} --from ${version} --to …"`,
  };
}
