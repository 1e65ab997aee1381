// Stripe objects and signed deliveries for tests, made with the real stripe package.

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
  readonly currentPeriodEnd?: number;
  readonly cancelAtPeriodEnd?: boolean;
  readonly trialEnd?: number | null;
  readonly cycleAnchor?: number;
  readonly tenant?: string;
}

/** A subscription object shaped as the current Stripe API returns it (period on the items). */
export function subscriptionObject(fields: SubscriptionFields = {}): Record<string, unknown> {
  const periodEnd = fields.currentPeriodEnd ?? seconds(Date.parse('2026-12-31T00:00:00Z'));
  return {
    id: fields.id ?? 'sub_1',
    object: 'subscription',
    customer: fields.customer ?? 'cus_1',
    status: fields.status ?? 'active',
    cancel_at_period_end: fields.cancelAtPeriodEnd ?? false,
    trial_end: fields.trialEnd ?? null,
    billing_cycle_anchor: fields.cycleAnchor ?? seconds(Date.parse('2026-11-01T00:00:00Z')),
    metadata: fields.tenant ? { entitle_tenant: fields.tenant } : {},
    items: {
      object: 'list',
      data: (fields.prices ?? ['pro_monthly']).map((key, i) => ({
        id: `si_${i}`,
        object: 'subscription_item',
        current_period_end: periodEnd,
        price: { id: `price_${key}`, object: 'price', lookup_key: key },
      })),
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
