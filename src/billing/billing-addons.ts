// Add-ons bought as subscription items, pure: a statement of a subscription and the plan its
// tenant is on → the add-ons the subscription gives (quantity from its items) and those it names
// that the plan may not hold. Billing owns these rows; an operator's add-ons are never touched.

import type { PolicySnapshot } from '../policy/types.js';
import type { SubscriptionState } from '../store/subscription-state.js';

/** What a statement's items give: add-on → quantity, and the add-ons the plan may not hold. */
export interface SubscriptionAddons {
  readonly held: ReadonlyMap<string, number>;
  readonly unavailable: readonly { readonly addon: string; readonly quantity: number }[];
}

/** Statuses whose items still give add-ons (past_due through the grace period, as the plan). */
const HOLDING = new Set<SubscriptionState['status']>(['active', 'trialing', 'past_due']);

const NONE: SubscriptionAddons = { held: new Map(), unavailable: [] };

/**
 * The add-ons `subscription` gives a tenant on `plan`; undefined when the statement does not say
 * (a stored state changed by an invoice carries no items: its add-ons stay as they are). A
 * subscription that no longer holds (canceled, unpaid, paused…) gives none. Items of one add-on
 * add up; an item whose price maps to no add-on (the plan's item) gives nothing here.
 */
export function addonsOfSubscription(
  snapshot: PolicySnapshot,
  subscription: SubscriptionState,
  plan: string | undefined,
): SubscriptionAddons | undefined {
  if (!HOLDING.has(subscription.status)) return NONE;
  if (subscription.items === undefined) return undefined;
  const prices = snapshot.billing?.addonPrices.get(subscription.provider);
  if (!prices) return NONE;
  const quantities = new Map<string, number>();
  for (const item of subscription.items) {
    const addon = item.prices.map((price) => prices.get(price)).find((key) => key !== undefined);
    if (addon === undefined || item.quantity < 1) continue;
    quantities.set(addon, (quantities.get(addon) ?? 0) + item.quantity);
  }
  const held = new Map<string, number>();
  const unavailable: { addon: string; quantity: number }[] = [];
  for (const [addon, quantity] of quantities) {
    const availableOn = snapshot.addons.get(addon)?.availableOn;
    if (plan === undefined || (availableOn !== undefined && !availableOn.includes(plan)))
      unavailable.push({ addon, quantity });
    else held.set(addon, quantity);
  }
  return { held, unavailable };
}

/** The add-ons whose quantity differs between `before` and `after` (0: not held), in name order. */
export function addonChanges(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
): { readonly addon: string; readonly before: number; readonly after: number }[] {
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  return names
    .map((addon) => ({ addon, before: before.get(addon) ?? 0, after: after.get(addon) ?? 0 }))
    .filter((change) => change.before !== change.after);
}
