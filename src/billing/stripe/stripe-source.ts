// Stripe as a billing source: webhook deliveries verified with the stripe package (raw body,
// 300 s tolerance either way, every configured secret tried during a rotation), subscriptions read back
// with its client (STRIPE_API_URL points it at stripe-mock or a test's fake server).

import Stripe from 'stripe';
import {
  BillingPayloadError,
  BillingSignatureError,
  type BillingEvent,
  type BillingSource,
  type EventHeader,
} from '../billing-source.js';
import type { SubscriptionState } from '../../store/subscription-state.js';
import {
  idOf,
  invoiceSubscriptionId,
  isRecord,
  subscriptionFromStripe,
  tenantHintOf,
  text,
  time,
} from './stripe-objects.js';

// The refusals a source throws, declared with the interface so routes need not load this module.
export { BillingPayloadError, BillingSignatureError };

/** How old a signed delivery may be, in seconds: Stripe's own default, stated. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export interface StripeSourceOptions {
  /** Webhook signing secrets (whsec_…): every one is accepted, so a rotation loses no delivery. */
  readonly webhookSecrets: readonly string[];
  /** Secret API key for reading subscriptions back; without it, events are ordered by their own timestamps. */
  readonly apiKey?: string | undefined;
  /** Base URL of the Stripe API (default https://api.stripe.com). */
  readonly apiUrl?: URL | undefined;
  readonly clock?: () => number;
}

const SUBSCRIPTION_EVENTS = new Set([
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
]);

export class StripeSource implements BillingSource {
  readonly provider = 'stripe' as const;
  readonly canRead: boolean;
  readonly #stripe: Stripe;
  readonly #secrets: readonly string[];
  readonly #clock: () => number;

  constructor(options: StripeSourceOptions) {
    this.#secrets = options.webhookSecrets;
    this.#clock = options.clock ?? Date.now;
    this.canRead = options.apiKey !== undefined;
    const url = options.apiUrl;
    // The key is only sent by API calls, which canRead guards; webhooks need none.
    this.#stripe = new Stripe(options.apiKey ?? 'sk_unused', {
      maxNetworkRetries: 2,
      timeout: 10_000,
      telemetry: false,
      ...(url
        ? {
            host: url.hostname,
            protocol: url.protocol === 'http:' ? 'http' : 'https',
            ...(url.port ? { port: Number(url.port) } : {}),
          }
        : {}),
    });
  }

  verify(rawBody: Buffer, headers: Readonly<Record<string, string | string[] | undefined>>): BillingEvent {
    const header = headers['stripe-signature'];
    if (typeof header !== 'string' || header.length === 0)
      throw new BillingSignatureError('Stripe-Signature header missing');
    if (this.#secrets.length === 0)
      throw new BillingSignatureError('no webhook secret is configured (STRIPE_WEBHOOK_SECRET)');
    const signature = this.#stripe.webhooks.signature;
    if (!signature) throw new Error('the stripe package has no signature helper');
    const now = this.#clock();
    let verified = false;
    let failure = 'signature does not match';
    for (const secret of this.#secrets) {
      try {
        signature.verifyHeader(rawBody, header, secret, SIGNATURE_TOLERANCE_SECONDS, undefined, now);
        verified = true;
        break;
      } catch (error) {
        // A stale timestamp fails the same way for every secret; say which problem it was.
        if (error instanceof Error && /tolerance/i.test(error.message))
          failure = `timestamp outside the ${SIGNATURE_TOLERANCE_SECONDS} s tolerance`;
        else if (
          error instanceof Error &&
          /unable to extract|no signatures found with expected scheme/i.test(error.message)
        )
          failure = 'malformed Stripe-Signature header';
      }
    }
    if (!verified) throw new BillingSignatureError(failure);
    // The library checks only the age: a signature dated ahead of the clock beyond the same
    // tolerance is as unacceptable as an old one (a captured header replayable for longer).
    const signedAt = signedAtOf(header);
    if (signedAt === undefined) throw new BillingSignatureError('malformed Stripe-Signature header');
    if (signedAt - Math.floor(now / 1000) > SIGNATURE_TOLERANCE_SECONDS)
      throw new BillingSignatureError(`timestamp outside the ${SIGNATURE_TOLERANCE_SECONDS} s tolerance`);
    let event: unknown;
    try {
      event = JSON.parse(rawBody.toString('utf8'));
    } catch {
      throw new BillingPayloadError('malformed JSON');
    }
    if (!isRecord(event)) throw new BillingPayloadError('the event is not a JSON object');
    return eventFrom(event);
  }

  async retrieveSubscription(
    id: string,
  ): Promise<{ subscription: SubscriptionState; tenantHint: string | undefined } | undefined> {
    const observedAt = new Date(this.#clock()).toISOString();
    try {
      return read(await this.#stripe.subscriptions.retrieve(id), observedAt);
    } catch (error) {
      // Gone from Stripe (test data deleted): the event's own payload is all there is.
      if (error instanceof Stripe.errors.StripeError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  async *listSubscriptions(): AsyncIterable<{ subscription: SubscriptionState; tenantHint: string | undefined }> {
    const observedAt = new Date(this.#clock()).toISOString();
    // status "all" includes canceled ones: a canceled subscription is drift too when we still grant it.
    for await (const object of this.#stripe.subscriptions.list({ status: 'all', limit: 100 }))
      yield read(object, observedAt);
  }
}

function read(
  object: unknown,
  observedAt: string,
): { subscription: SubscriptionState; tenantHint: string | undefined } {
  const subscription = subscriptionFromStripe(object, observedAt);
  return { subscription, tenantHint: isRecord(object) ? tenantHintOf(object) : undefined };
}

/** The `t=` of a Stripe-Signature header: when Stripe signed, in seconds. */
function signedAtOf(header: string): number | undefined {
  for (const part of header.split(',')) {
    const [key, value] = part.split('=');
    if (key?.trim() === 't' && value !== undefined && /^\d+$/.test(value.trim())) return Number(value.trim());
  }
  return undefined;
}

/** A verified Stripe event as a BillingEvent. */
export function eventFrom(event: Record<string, unknown>): BillingEvent {
  const id = text(event.id);
  const type = text(event.type);
  const createdAt = time(event.created);
  const object = isRecord(event.data) && isRecord(event.data.object) ? event.data.object : undefined;
  if (!id || !type || !createdAt || !object)
    throw new BillingPayloadError('the event lacks an id, type, created time or data.object');
  const header: EventHeader = { provider: 'stripe', id, type, createdAt };
  try {
    if (SUBSCRIPTION_EVENTS.has(type)) {
      return {
        ...header,
        kind: 'subscription',
        subscription: subscriptionFromStripe(object, createdAt),
        tenantHint: tenantHintOf(object),
      };
    }
    if (type === 'customer.subscription.trial_will_end') {
      const customerId = required(idOf(object.customer), 'customer');
      return {
        ...header,
        kind: 'notice',
        customerId,
        subscriptionId: idOf(object.id),
        details: { trialEndsAt: time(object.trial_end) },
      };
    }
    if (type === 'invoice.paid' || type === 'invoice.payment_failed') {
      const subscriptionId = invoiceSubscriptionId(object);
      // A one-off invoice bills no subscription: nothing to do with plans.
      if (!subscriptionId) return { ...header, kind: 'ignored' };
      return {
        ...header,
        kind: 'invoice',
        paid: type === 'invoice.paid',
        customerId: required(idOf(object.customer), 'customer'),
        subscriptionId,
      };
    }
    if (type === 'checkout.session.completed') {
      const customerId = idOf(object.customer);
      if (!customerId) return { ...header, kind: 'ignored' };
      const tenantHint = text(object.client_reference_id) ?? tenantHintOf(object);
      return { ...header, kind: 'checkout', customerId, tenantHint, subscriptionId: idOf(object.subscription) };
    }
  } catch (error) {
    throw new BillingPayloadError(error instanceof Error ? error.message : 'unreadable event');
  }
  return { ...header, kind: 'ignored' };
}

function required(value: string | undefined, field: string): string {
  if (value === undefined) throw new BillingPayloadError(`the event's object has no ${field}`);
  return value;
}
