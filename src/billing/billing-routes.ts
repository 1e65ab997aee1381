// POST /api/billing/stripe/webhook: Stripe's deliveries, authenticated by their signature (no
// bearer token). The body is read raw: the signature covers the exact bytes Stripe sent.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { FailedLogins } from '../auth/failed-logins.js';
import {
  BillingNotConfiguredError,
  BillingPayloadInvalidError,
  BillingSignatureInvalidError,
  RateLimitedError,
  withDetails,
} from '../errors.js';
import { ErrorBody } from '../http/schemas.js';
import type { BillingSync } from './billing-sync.js';
import { BillingPayloadError, BillingSignatureError } from './billing-source.js';

export interface BillingRoutesOptions {
  /** Undefined when Stripe is not configured: the webhook answers 503 naming what to set. */
  readonly sync: BillingSync | undefined;
  /**
   * The failed-authentication table shared with the API: a post without a valid signature counts
   * as a failed authentication of its address, and an address over the limit is refused before
   * its body is read. Stripe's own deliveries never fail, so Stripe is never refused.
   */
  readonly failedLogins: FailedLogins;
}

/** Stripe events can be larger than the API's usual bodies (a subscription with many items). */
const WEBHOOK_BODY_LIMIT = 1024 * 1024;

const StripeEvent = Type.Object(
  {
    id: Type.String({ examples: ['evt_1Nx…'] }),
    object: Type.Literal('event'),
    type: Type.String({ examples: ['customer.subscription.updated'] }),
    created: Type.Integer({ description: 'seconds since the epoch' }),
    data: Type.Object({ object: Type.Object({}, { additionalProperties: true }) }, { additionalProperties: true }),
  },
  {
    additionalProperties: true,
    description:
      'A Stripe event exactly as Stripe sent it: checked by its signature over the raw bytes, not by this schema',
  },
);

const Received = Type.Object(
  {
    received: Type.Literal(true),
    id: Type.String(),
    outcome: Type.String({
      description:
        'applied, unchanged, stale, canceled, linked, unlinked_customer, unmapped_price, unknown_subscription, audited or ignored',
    }),
    duplicate: Type.Boolean({ description: 'true when this event id was handled before: nothing changed now' }),
  },
  { description: 'The event was handled (or had been): Stripe need not retry' },
);

export const billingRoutes: FastifyPluginAsyncTypebox<BillingRoutesOptions> = async (
  fastify,
  { sync, failedLogins },
) => {
  // Scoped to this plugin: every other route keeps parsing JSON.
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT },
    (_request, body, done) => done(null, body),
  );

  fastify.post(
    '/api/billing/stripe/webhook',
    {
      bodyLimit: WEBHOOK_BODY_LIMIT,
      schema: {
        tags: ['billing'],
        summary: 'Stripe webhook: subscription, invoice and checkout events change tenant plans',
        description:
          'Authenticated by the Stripe-Signature header over the raw body (300 s tolerance, either way). Posts without a valid signature count as failed authentications of their address (429 past the limit). Idempotent on the event id.',
        security: [],
        body: StripeEvent,
        response: { 200: Received, 400: ErrorBody, 429: ErrorBody, 503: ErrorBody },
      },
      // Before the (up to 1 MB) body is read: an address over its failure limit is refused now.
      onRequest: async (request) => {
        const wait = failedLogins.blockedFor(request.ip);
        if (wait !== undefined) throw withDetails(new RateLimitedError(`${wait} seconds`), { retryAfterSeconds: wait });
      },
      // The body stays the raw bytes the signature covers; the schema documents it for OpenAPI.
      validatorCompiler: () => () => true,
    },
    async (request) => {
      if (!sync) throw new BillingNotConfiguredError('STRIPE_WEBHOOK_SECRET');
      const body = request.body;
      if (!Buffer.isBuffer(body))
        throw new BillingPayloadInvalidError(
          'body: expected the JSON event as Stripe sent it (content-type application/json)',
        );
      let event;
      try {
        event = sync.source.verify(body, request.headers);
      } catch (error) {
        if (error instanceof BillingSignatureError) {
          // The access line records every refusal; one warning per address reaching its limit.
          if (failedLogins.record(request.ip))
            request.log.warn(
              { reason: error.message },
              'billing webhook: unsigned or badly signed posts from this address are now refused for the minute',
            );
          throw new BillingSignatureInvalidError(error.message);
        }
        if (error instanceof BillingPayloadError) throw new BillingPayloadInvalidError(error.message);
        throw error;
      }
      const result = await sync.handle(event);
      request.log.info(
        {
          eventId: event.id,
          type: event.type,
          outcome: result.outcome,
          duplicate: result.duplicate,
          tenantId: result.tenantId,
        },
        'billing webhook handled',
      );
      return { received: true as const, id: event.id, outcome: result.outcome, duplicate: result.duplicate };
    },
  );
};
