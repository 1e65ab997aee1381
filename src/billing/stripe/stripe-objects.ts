// Stripe's JSON objects → Entitle's billing shapes. Read defensively: webhook payloads follow the
// endpoint's API version, so a field may sit where an older or newer version puts it.

import { isSubscriptionStatus, type SubscriptionItem, type SubscriptionState } from '../../store/subscription-state.js';

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Stripe times are seconds since the epoch. */
function time(value: unknown): string | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? new Date(value * 1000).toISOString() : null;
}

/** An id, whether the field holds the id or the expanded object. */
export function idOf(value: unknown): string | undefined {
  if (typeof value === 'string') return text(value);
  return isRecord(value) ? text(value.id) : undefined;
}

/** The tenant a Stripe object names through `metadata.entitle_tenant`. */
export function tenantHintOf(object: Json): string | undefined {
  return isRecord(object.metadata) ? text(object.metadata.entitle_tenant) : undefined;
}

/** Thrown for an object that lacks what Entitle needs (an id, a customer, a known status). */
export class StripeObjectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StripeObjectError';
  }
}

/**
 * A Stripe subscription object as a SubscriptionState observed at `observedAt`. `pastDueSince`
 * is left to the store, which knows since when the subscription has been past due.
 */
export function subscriptionFromStripe(object: unknown, observedAt: string): SubscriptionState {
  if (!isRecord(object)) throw new StripeObjectError('the subscription is not an object');
  const id = text(object.id);
  const customerId = idOf(object.customer);
  if (!id || !customerId) throw new StripeObjectError('the subscription has no id or customer');
  if (!isSubscriptionStatus(object.status))
    throw new StripeObjectError(`unknown subscription status ${JSON.stringify(object.status)}`);
  const items = isRecord(object.items) && Array.isArray(object.items.data) ? object.items.data.filter(isRecord) : [];
  const prices = new Set<string>();
  const stated: SubscriptionItem[] = [];
  const itemPeriodEnds: number[] = [];
  for (const item of items) {
    const price = isRecord(item.price) ? item.price : isRecord(item.plan) ? item.plan : undefined;
    if (price) {
      const keys = [text(price.id), text(price.lookup_key)].filter((key) => key !== undefined);
      for (const key of keys) prices.add(key);
      // A metered item has no quantity: it counts as one unit.
      const quantity = typeof item.quantity === 'number' && Number.isSafeInteger(item.quantity) ? item.quantity : 1;
      stated.push({ prices: keys, quantity });
    }
    // Since API version 2025-03-31 the period lives on each item.
    if (typeof item.current_period_end === 'number' && item.current_period_end > 0)
      itemPeriodEnds.push(item.current_period_end);
  }
  // Items may renew on different dates: Stripe's own "current period end" (the list filter,
  // cancel_at_period_end, min_period_end) is the earliest of them.
  const periodEnd = time(object.current_period_end) ?? time(earliest(itemPeriodEnds));
  const cancelAtPeriodEnd = object.cancel_at_period_end === true;
  return {
    provider: 'stripe',
    id,
    customerId,
    status: object.status,
    prices: [...prices],
    currentPeriodEnd: periodEnd,
    cancelAtPeriodEnd,
    cancelAt: cancelAtOf(object.cancel_at, cancelAtPeriodEnd ? periodEnd : null, itemPeriodEnds),
    trialEnd: time(object.trial_end),
    pastDueSince: null,
    cycleAnchor: time(object.billing_cycle_anchor),
    observedAt,
    items: stated,
  };
}

function earliest(values: readonly number[]): number | undefined {
  return values.length > 0 ? Math.min(...values) : undefined;
}

/**
 * When the subscription ends by a scheduled cancellation. cancel_at_period_end follows the
 * (earliest) period end as it moves; otherwise `cancel_at`, a timestamp — the enums a request may
 * send (min_period_end, max_period_end) resolve to one, read here too should a payload carry them.
 */
function cancelAtOf(cancelAt: unknown, atPeriodEnd: string | null, itemPeriodEnds: readonly number[]): string | null {
  if (atPeriodEnd) return atPeriodEnd;
  if (cancelAt === 'min_period_end') return time(earliest(itemPeriodEnds));
  if (cancelAt === 'max_period_end') return time(itemPeriodEnds.length > 0 ? Math.max(...itemPeriodEnds) : undefined);
  return time(cancelAt);
}

/** The subscription an invoice bills, wherever the API version puts it. */
export function invoiceSubscriptionId(invoice: Json): string | undefined {
  const direct = idOf(invoice.subscription);
  if (direct) return direct;
  const parent = isRecord(invoice.parent) ? invoice.parent : undefined;
  const details = parent && isRecord(parent.subscription_details) ? parent.subscription_details : undefined;
  return details ? idOf(details.subscription) : undefined;
}

export { isRecord, text, time };
