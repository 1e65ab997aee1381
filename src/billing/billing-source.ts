// What Entitle needs from a billing system: verified events in, subscriptions read back. Only
// Stripe is built (stripe/stripe-source.ts); another system implements this interface.

import type { BillingProviderName } from '../policy/types.js';
import type { SubscriptionState } from '../store/subscription-state.js';

/** A verified billing event, reduced to what changes a tenant. */
export type BillingEvent =
  /** A subscription's new state, from the event's payload. */
  | (EventHeader & {
      readonly kind: 'subscription';
      readonly subscription: SubscriptionState;
      readonly tenantHint: string | undefined;
    })
  /** A payment of a subscription's invoice succeeded or failed. */
  | (EventHeader & {
      readonly kind: 'invoice';
      readonly paid: boolean;
      readonly customerId: string;
      readonly subscriptionId: string;
    })
  /** A checkout finished: links the customer to the tenant it names. */
  | (EventHeader & {
      readonly kind: 'checkout';
      readonly customerId: string;
      readonly tenantHint: string | undefined;
      readonly subscriptionId: string | undefined;
    })
  /** Worth an audit row only (a trial ends soon). */
  | (EventHeader & {
      readonly kind: 'notice';
      readonly customerId: string;
      readonly subscriptionId: string | undefined;
      readonly details: Readonly<Record<string, unknown>>;
    })
  /** A type Entitle does not act on. */
  | (EventHeader & { readonly kind: 'ignored' });

export interface EventHeader {
  readonly provider: BillingProviderName;
  readonly id: string;
  readonly type: string;
  /** When the billing system created the event (ISO 8601). */
  readonly createdAt: string;
}

export interface BillingSource {
  readonly provider: BillingProviderName;
  /**
   * Verifies a delivery (raw body and headers) and returns its event. Throws
   * BillingSignatureError when the signature or its timestamp is not acceptable.
   */
  verify(rawBody: Buffer, headers: Readonly<Record<string, string | string[] | undefined>>): BillingEvent;
  /** Whether the source can read subscriptions back (an API key is configured). */
  readonly canRead: boolean;
  /** The subscription as the billing system has it now; undefined when it does not know it. */
  retrieveSubscription(
    id: string,
  ): Promise<{ subscription: SubscriptionState; tenantHint: string | undefined } | undefined>;
  /** Every subscription, page by page (the source pages; the caller just iterates). */
  listSubscriptions(): AsyncIterable<{ subscription: SubscriptionState; tenantHint: string | undefined }>;
}

/** A delivery whose signature or timestamp is not acceptable. The message is safe to show. */
export class BillingSignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BillingSignatureError';
  }
}

/** A signed event Entitle could not read (a subscription without a customer…). */
export class BillingPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BillingPayloadError';
  }
}
