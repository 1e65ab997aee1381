// The in-memory form of one tenant, as decisions read it: built from the store's snapshot once,
// shared by the directory, webhooks, migrations and the CLI; and every tenant of the store in pages.

import type { ChangeFeed, TenantSnapshot } from '../store/store.js';
import type { OverrideState, TenantState } from './decide.js';
import { addonsKey, NO_ADDONS, planProfile, type AddonQuantities } from './plan-profile.js';

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
  const held = addonQuantities(snapshot.addons);
  const addons = internAddons(held.addons);
  const unbilledAddons = held.unbilledAddons && internAddons(held.unbilledAddons);
  const profile = planProfile(internPlan(plan), planVersion, addons);
  return Object.freeze({
    id,
    name,
    plan: profile.plan,
    planVersion,
    addons,
    profile,
    overrides,
    ...(billing ? { billing } : {}),
    ...(unbilledAddons ? { unbilledAddons } : {}),
  });
}

/** Quantities by add-on, the operator's and billing's rows added up, and the operator's alone when billing holds some. */
function addonQuantities(rows: TenantSnapshot['addons']): {
  addons: AddonQuantities;
  unbilledAddons?: AddonQuantities;
} {
  if (rows === undefined || rows.length === 0) return { addons: NO_ADDONS };
  const all = new Map<string, number>();
  const unbilled = new Map<string, number>();
  for (const held of rows) {
    all.set(held.addon, (all.get(held.addon) ?? 0) + held.quantity);
    if (!held.billing) unbilled.set(held.addon, (unbilled.get(held.addon) ?? 0) + held.quantity);
  }
  if (rows.every((held) => !held.billing)) return { addons: all };
  return { addons: all, unbilledAddons: unbilled.size === 0 ? NO_ADDONS : unbilled };
}

const NO_OVERRIDES: ReadonlyMap<string, OverrideState> = new Map();
const addonSets = new Map<string, AddonQuantities>();

/**
 * One map per set of add-ons, however many tenants hold it: tenants stay small and close together
 * in memory, which keeps deciding for them as fast as for others.
 */
function internAddons(addons: AddonQuantities): AddonQuantities {
  if (addons.size === 0) return addons;
  const key = addonsKey(addons);
  const known = addonSets.get(key);
  if (known !== undefined) return known;
  if (addonSets.size < 100_000) addonSets.set(key, addons);
  return addons;
}
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
