// A billing subscription as Entitle keeps it, whatever billing system it came from: the few
// facts that decide a plan, and the time they were true at (for ordering). A persisted shape, so
// it lives in the store; billing/ maps each billing system onto it.

import type { BillingProviderName } from '../policy/types.js';

/** Subscription statuses, as Stripe names them (other billing systems map onto these). */
export const SUBSCRIPTION_STATUSES = [
  'active',
  'trialing',
  'past_due',
  'canceled',
  'unpaid',
  'incomplete',
  'incomplete_expired',
  'paused',
] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/** When a scheduled cancellation ends `s`, if one is (a row stored before `cancelAt` was kept has only the flag). */
export function scheduledEnd(s: SubscriptionState): string | null {
  return s.cancelAt ?? (s.cancelAtPeriodEnd ? s.currentPeriodEnd : null);
}

export function isSubscriptionStatus(value: unknown): value is SubscriptionStatus {
  return typeof value === 'string' && (SUBSCRIPTION_STATUSES as readonly string[]).includes(value);
}

/** One subscription of a billing customer. Times are ISO 8601. */
export interface SubscriptionState {
  readonly provider: BillingProviderName;
  readonly id: string;
  readonly customerId: string;
  readonly status: SubscriptionStatus;
  /** Every price of the subscription's items, by id and by lookup key: the policy may name either. */
  readonly prices: readonly string[];
  /** The end of the current period: with items on different cycles, the earliest (as Stripe resolves it). */
  readonly currentPeriodEnd: string | null;
  readonly cancelAtPeriodEnd: boolean;
  /**
   * When a scheduled cancellation ends the subscription (Stripe's `cancel_at`, or the period end
   * when canceling at period end); null when none is scheduled.
   */
  readonly cancelAt: string | null;
  readonly trialEnd: string | null;
  /** When the subscription was first seen past_due in its current run of failed payments: the grace period starts here. */
  readonly pastDueSince: string | null;
  /** The billing cycle anchor: meters with `reset: billing` reset on it. */
  readonly cycleAnchor: string | null;
  /** When the billing system said this (the event's or the read's time): an older statement never replaces a newer one. */
  readonly observedAt: string;
  /**
   * The subscription's items with their quantities, as the billing system stated them. Present on
   * a statement from the billing system, absent on a stored one (billing_addons keeps what the
   * items gave): a statement without items leaves a subscription's add-ons as they are.
   */
  readonly items?: readonly SubscriptionItem[];
}

/** One item of a subscription: its price (by id and lookup key) and how many units. */
export interface SubscriptionItem {
  readonly prices: readonly string[];
  readonly quantity: number;
}
