// How a new statement about a subscription combines with what is stored, pure. Webhooks arrive
// late, twice and out of order: an older statement never replaces a newer one, a canceled
// subscription stays canceled (Stripe cannot revive one), and the grace period starts when the
// subscription first went past_due, not at the latest reminder.

import type { SubscriptionState } from '../store/subscription-state.js';

/** The outcome of offering a statement: the state to store, or why it changes nothing. */
export type MergeResult =
  /** `changed` is false when only the time moved: still stored, so an older statement cannot slip in after it. */
  | { readonly applied: true; readonly next: SubscriptionState; readonly changed: boolean }
  | { readonly applied: false; readonly reason: 'stale' | 'canceled' };

/** Offers a full statement of the subscription (from a subscription event, or read back from the API). */
export function mergeSubscription(stored: SubscriptionState | undefined, incoming: SubscriptionState): MergeResult {
  if (stored) {
    if (Date.parse(incoming.observedAt) < Date.parse(stored.observedAt)) return { applied: false, reason: 'stale' };
    if (stored.status === 'canceled' && incoming.status !== 'canceled') return { applied: false, reason: 'canceled' };
  }
  const next: SubscriptionState = { ...incoming, pastDueSince: pastDueSince(stored, incoming) };
  return { applied: true, next, changed: !stored || !sameFacts(stored, next) };
}

/**
 * Offers an invoice's outcome. A failed payment makes an active subscription past_due; a paid
 * invoice ends a past_due, unpaid or incomplete run. A paid invoice does not touch a trial (a
 * trial's first invoice is paid at 0) and neither outcome touches a canceled subscription.
 */
export function mergeInvoice(
  stored: SubscriptionState,
  invoice: { readonly paid: boolean; readonly at: string },
): MergeResult {
  if (stored.status === 'canceled') return { applied: false, reason: 'canceled' };
  let status = stored.status;
  if (invoice.paid && (status === 'past_due' || status === 'unpaid' || status === 'incomplete')) status = 'active';
  if (!invoice.paid && (status === 'active' || status === 'trialing')) status = 'past_due';
  // Even when the status stays, the statement is stored with its time: a subscription event
  // older than this payment must not undo it when it arrives later.
  return mergeSubscription(stored, { ...stored, status, pastDueSince: null, observedAt: invoice.at });
}

function pastDueSince(stored: SubscriptionState | undefined, incoming: SubscriptionState): string | null {
  if (incoming.status !== 'past_due') return null;
  if (stored?.status === 'past_due' && stored.pastDueSince) return stored.pastDueSince;
  return incoming.pastDueSince ?? incoming.observedAt;
}

function sameFacts(a: SubscriptionState, b: SubscriptionState): boolean {
  return (
    a.status === b.status &&
    a.customerId === b.customerId &&
    a.prices.join('\n') === b.prices.join('\n') &&
    a.currentPeriodEnd === b.currentPeriodEnd &&
    a.cancelAtPeriodEnd === b.cancelAtPeriodEnd &&
    a.cancelAt === b.cancelAt &&
    a.trialEnd === b.trialEnd &&
    a.pastDueSince === b.pastDueSince &&
    a.cycleAnchor === b.cycleAnchor
  );
}
