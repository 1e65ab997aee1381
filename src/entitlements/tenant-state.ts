// The in-memory form of one tenant, as decisions read it: built from the store's snapshot once,
// shared by the directory, webhooks, migrations and the CLI; and every tenant of the store in pages.

import type { ChangeFeed, TenantSnapshot } from '../store/store.js';
import type { OverrideState, TenantState } from './decide.js';
import { NO_ADDONS, profileKey, type AddonQuantities } from './plan-profile.js';

/** Builds the in-memory form of one tenant. */
export function tenantState(snapshot: TenantSnapshot): TenantState {
  // Most tenants have no override: they share one empty map, and plan names are shared strings,
  // so 100,000 tenants cost little memory and decisions touch fewer cache lines.
  const overrides: ReadonlyMap<string, OverrideState> =
    snapshot.overrides.length === 0
      ? NO_OVERRIDES
      : new Map(
          snapshot.overrides.map((override) => [
            override.feature,
            Object.freeze({
              ...override,
              expiresAtMs: override.expiresAt === null ? null : Date.parse(override.expiresAt),
            }),
          ]),
        );
  const { id, name, plan, planVersion } = snapshot.tenant;
  const billing = snapshot.billing
    ? Object.freeze({ link: snapshot.billing.link, subscriptions: Object.freeze([...snapshot.billing.subscriptions]) })
    : undefined;
  const addons: AddonQuantities =
    snapshot.addons === undefined || snapshot.addons.length === 0
      ? NO_ADDONS
      : new Map(snapshot.addons.map((held) => [held.addon, held.quantity]));
  return Object.freeze({
    id,
    name,
    plan: internPlan(plan),
    planVersion,
    addons,
    profile: profileKey(plan, planVersion, addons),
    overrides,
    ...(billing ? { billing } : {}),
  });
}

const NO_OVERRIDES: ReadonlyMap<string, OverrideState> = new Map();
const planNames = new Map<string, string>();

/** One string per plan name, however many tenants were read with it. */
function internPlan(plan: string): string {
  const known = planNames.get(plan);
  if (known !== undefined) return known;
  if (planNames.size < 10_000) planNames.set(plan, plan);
  return plan;
}

/** Every tenant of the store, in pages of `size` in byte order of id: never all of them in memory at once. */
export async function* tenantPages(feed: Pick<ChangeFeed, 'page'>, size = 500): AsyncGenerator<readonly TenantState[]> {
  let after = '';
  for (;;) {
    const page = await feed.page(after, size);
    if (page.length === 0) return;
    yield page.map(tenantState);
    if (page.length < size) return;
    after = (page.at(-1) as (typeof page)[number]).tenant.id;
  }
}
