// Stripe objects and signed deliveries for tests, made with the real stripe package.

import { readFileSync } from 'node:fs';
import Stripe from 'stripe';

export const WEBHOOK_SECRET = 'whsec_test_entitle_primary';
export const OLD_WEBHOOK_SECRET = 'whsec_test_entitle_previous';

const stripe = new Stripe('sk_test_unused');

/** Seconds since the epoch, as Stripe writes times. */
export const seconds = (ms: number): number => Math.floor(ms / 1000);

export interface SubscriptionFields {
  readonly id?: string;
  readonly customer?: string;
  readonly status?: string;
  /** Price lookup keys; each becomes an item with price id `price_<key>`. */
  readonly prices?: readonly string[];
  /** Each item's quantity, in the order of `prices` (default: Stripe's published item's, 1). */
  readonly quantities?: readonly number[];
  /** Every item's period end, unless `itemPeriodEnds` gives each its own. */
  readonly currentPeriodEnd?: number;
  /** One period end per item, in the order of `prices`: items on different cycles. */
  readonly itemPeriodEnds?: readonly number[];
  readonly cancelAtPeriodEnd?: boolean;
  /** When Stripe will cancel the subscription (`cancel_at`, seconds), or null. */
  readonly cancelAt?: number | null;
  readonly trialEnd?: number | null;
  readonly cycleAnchor?: number;
  readonly tenant?: string;
}

const FIXTURES = new URL('../fixtures/stripe/', import.meta.url);
const readFixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as Record<string, unknown>;
/** Stripe's published subscription and subscription item (test/fixtures/stripe/README.md). */
const SUBSCRIPTION = readFixture('subscription.json');
const SUBSCRIPTION_ITEM = readFixture('subscription_item.json');
const MONTH_SECONDS = 30 * 86_400;

/**
 * Stripe's published subscription object (API version of the pinned package: the period on each
 * item) with the fields a test names changed; every other field is as Stripe publishes it.
 */
export function subscriptionObject(fields: SubscriptionFields = {}): Record<string, unknown> {
  const periodEnd = fields.currentPeriodEnd ?? seconds(Date.parse('2026-12-31T00:00:00Z'));
  const id = fields.id ?? 'sub_1';
  const keys = fields.prices ?? ['pro_monthly'];
  const items = keys.map((key, i) => {
    const item = structuredClone(SUBSCRIPTION_ITEM);
    const end = fields.itemPeriodEnds?.[i] ?? periodEnd;
    const price = { ...(item.price as Record<string, unknown>), id: `price_${key}`, lookup_key: key };
    return {
      ...item,
      id: `si_${i}`,
      subscription: id,
      ...(fields.quantities?.[i] !== undefined ? { quantity: fields.quantities[i] } : {}),
      price,
      plan: { ...(item.plan as Record<string, unknown>), id: `price_${key}` },
      current_period_start: end - MONTH_SECONDS,
      current_period_end: end,
    };
  });
  const status = fields.status ?? 'active';
  return {
    ...structuredClone(SUBSCRIPTION),
    id,
    customer: fields.customer ?? 'cus_1',
    status,
    cancel_at_period_end: fields.cancelAtPeriodEnd ?? false,
    cancel_at: fields.cancelAt ?? null,
    canceled_at: fields.cancelAt || fields.cancelAtPeriodEnd ? seconds(Date.parse('2026-11-15T00:00:00Z')) : null,
    ended_at: status === 'canceled' ? periodEnd : null,
    trial_start: fields.trialEnd ? fields.trialEnd - 14 * 86_400 : null,
    trial_end: fields.trialEnd ?? null,
    billing_cycle_anchor: fields.cycleAnchor ?? seconds(Date.parse('2026-11-01T00:00:00Z')),
    metadata: fields.tenant ? { entitle_tenant: fields.tenant } : {},
    items: {
      object: 'list',
      data: items,
      has_more: false,
      url: `/v1/subscription_items?subscription=${id}`,
    },
  };
}

let eventCounter = 0;

/** An event envelope around an object. */
export function eventObject(
  type: string,
  object: Record<string, unknown>,
  options: { id?: string; created?: number } = {},
): Record<string, unknown> {
  return {
    id: options.id ?? `evt_${++eventCounter}_${Date.now()}`,
    object: 'event',
    type,
    created: options.created ?? seconds(Date.now()),
    data: { object },
  };
}

/** An invoice of a subscription, shaped as the current API returns it. */
export function invoiceObject(subscription: string, customer = 'cus_1'): Record<string, unknown> {
  return {
    id: `in_${subscription}`,
    object: 'invoice',
    customer,
    parent: { type: 'subscription_details', subscription_details: { subscription } },
  };
}

/** A delivery: the raw body and its Stripe-Signature header, signed at `timestamp` (seconds). */
export function signedDelivery(
  event: Record<string, unknown>,
  options: { secret?: string; timestamp?: number } = {},
): { payload: string; headers: Record<string, string> } {
  const payload = JSON.stringify(event);
  const signature = stripe.webhooks.generateTestHeaderString({
    payload,
    secret: options.secret ?? WEBHOOK_SECRET,
    ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
  });
  return { payload, headers: { 'stripe-signature': signature, 'content-type': 'application/json' } };
}
