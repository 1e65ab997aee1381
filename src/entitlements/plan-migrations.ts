// Moving tenants between versions of a plan: a dry run lists each tenant on the old version with
// what it would lose and gain (`policy diff`'s definition, decided with its overrides and add-ons);
// applying moves them one audited write each. Safe to re-run: a tenant already moved is skipped.

import { InvalidInputError, PlanNotFoundError } from '../errors.js';
import type { FeatureValue, PolicySnapshot } from '../policy/types.js';
import type { EntitleStore, WriteContext } from '../store/store.js';
import { decide, type TenantState } from './decide.js';
import { planProfile } from './plan-profile.js';
import { kindOf } from './policy-impact.js';
import { tenantState } from './tenant-directory.js';

/** One feature that changes for a tenant. */
export interface FeatureChange {
  readonly feature: string;
  readonly before: FeatureValue;
  readonly after: FeatureValue;
}

/** What moving one tenant changes for it. */
export interface TenantMigration {
  readonly tenant: string;
  /** Features it loses or gets a lower limit of. */
  readonly loses: readonly FeatureChange[];
  /** Features it gains or gets a higher limit of, and other changes. */
  readonly gains: readonly FeatureChange[];
}

export interface MigrationRequest {
  readonly plan: string;
  readonly from: number;
  readonly to: number;
  readonly dryRun: boolean;
}

export interface MigrationResult {
  readonly plan: string;
  readonly from: number;
  readonly to: number;
  readonly dryRun: boolean;
  /** Every tenant on `plan@from` when the run started, with what moving changes for it. */
  readonly tenants: readonly TenantMigration[];
  /** How many tenants this run moved (0 in a dry run; fewer than listed when some moved meanwhile). */
  readonly moved: number;
}

export interface PlanMigrationsDeps {
  readonly store: Pick<EntitleStore, 'tenants' | 'changes'>;
  readonly policy: () => PolicySnapshot;
  readonly clock?: () => number;
}

/** Tenants read per query while listing. */
const BATCH = 500;

export class PlanMigrations {
  constructor(private readonly deps: PlanMigrationsDeps) {}

  /** Lists (dry run) or moves every tenant on `plan@from` to `plan@to`. Throws on a bad request. */
  async migrate(request: MigrationRequest, context: WriteContext): Promise<MigrationResult> {
    const snapshot = this.deps.policy();
    const { plan, from, to, dryRun } = request;
    const definition = snapshot.plans.get(plan);
    if (!definition) throw new PlanNotFoundError(plan);
    for (const [field, value] of [
      ['from', from],
      ['to', to],
    ] as const)
      if (!Number.isSafeInteger(value) || value < 1)
        throw new InvalidInputError(`${field}: must be a whole number from 1`);
    if (!definition.versions.has(to))
      throw new InvalidInputError(
        `to: plan "${plan}" has no version ${to} (it has ${[...definition.versions.keys()].join(', ')})`,
      );
    if (from === to) throw new InvalidInputError('to: must differ from from');
    const now = (this.deps.clock ?? Date.now)();
    const ids = await this.deps.store.tenants.idsOnVersion(plan, from);
    const tenants: TenantMigration[] = [];
    let moved = 0;
    for (let start = 0; start < ids.length; start += BATCH) {
      const snapshots = await this.deps.store.changes.load(ids.slice(start, start + BATCH));
      for (const stored of snapshots) {
        const state = tenantState(stored);
        if (state.plan !== plan || state.planVersion !== from) continue;
        const change = changesFor(snapshot, state, to, now);
        tenants.push(change);
        if (dryRun) continue;
        const before = await this.deps.store.tenants.migrateVersion(state.id, { plan, from, to }, context, {
          loses: change.loses,
          gains: change.gains,
        });
        if (before) moved++;
      }
    }
    tenants.sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0));
    return { plan, from, to, dryRun, tenants, moved };
  }
}

/** What a tenant would lose and gain on version `to` of its plan, decided as it stands now. */
function changesFor(snapshot: PolicySnapshot, tenant: TenantState, to: number, now: number): TenantMigration {
  const moved: TenantState = {
    ...tenant,
    planVersion: to,
    profile: planProfile(tenant.plan, to, tenant.addons),
    // A billing state of its own: decisions are cached per billing state.
    ...(tenant.billing ? { billing: Object.freeze({ ...tenant.billing }) } : {}),
  };
  const loses: FeatureChange[] = [];
  const gains: FeatureChange[] = [];
  for (const key of snapshot.features.keys()) {
    const before = decide(snapshot, tenant, key, now);
    const after = decide(snapshot, moved, key, now);
    const kind = kindOf(before, after);
    if (!kind || !before || !after) continue;
    const change = { feature: key, before: before.value, after: after.value };
    if (kind === 'revoked' || kind === 'lowered') loses.push(change);
    else gains.push(change);
  }
  return { tenant: tenant.id, loses, gains };
}
