// Webhook endpoints over HTTP (/api/admin/webhooks): register, list, change, remove, rotate the
// signing secret, read the delivery log and replay. The rules are the Webhooks service's.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf, principalOf, type Principal } from '../auth/principal.js';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/webhook-event-types.js';
import type { Webhooks } from '../webhooks/webhooks.js';
import type { WebhookEndpoint } from '../store/repositories/webhook-endpoints.js';
import { noContent } from '../http/schemas.js';
import { ADMIN, ErrorBody, LIMITED_ERRORS, pageOf } from './admin-schemas.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

const EndpointBody = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  description: Type.String(),
  enabled: Type.Boolean(),
  disabledAt: Nullable(Type.String()),
  disabledReason: Nullable(Type.String()),
  failureStreak: Type.Integer({ description: 'deliveries failed in a row since the last one delivered' }),
  previousSecretUntil: Nullable(
    Type.String({ description: 'the rotated-out secret signs beside the new one until then' }),
  ),
  createdBy: Type.String(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const DeliveryBody = Type.Object({
  id: Type.String(),
  eventId: Type.String({ description: 'the webhook-id header, the same on every try' }),
  endpointId: Type.String(),
  type: Type.String(),
  tenantId: Type.String(),
  status: Type.String({ description: 'pending, delivered or failed' }),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(Type.String()),
  lastStatus: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
  lastLatencyMs: Nullable(Type.Integer()),
  lastAttemptAt: Nullable(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const AttemptBody = Type.Object({
  at: Type.String(),
  status: Nullable(Type.Integer({ description: "the receiver's HTTP status; null when no answer came" })),
  error: Nullable(Type.String({ description: 'what went wrong: a refused connection, a timeout, HTTP 500: …' })),
  latencyMs: Type.Integer(),
  outcome: Type.String({ description: 'delivered, retry, failed (schedule used up) or gone (410)' }),
});

const EventTypes = Type.Array(Type.Enum(WEBHOOK_EVENT_TYPES), { minItems: 1, maxItems: WEBHOOK_EVENT_TYPES.length });
const Url = Type.String({ minLength: 1, maxLength: 2048, examples: ['https://hooks.example.com/entitle'] });
const Params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const WithSecret = Type.Object({
  endpoint: EndpointBody,
  secret: Type.String({ description: 'whsec_…: shown in this answer only' }),
});

/** What the webhook routes use. */
export interface WebhookRoutesOptions {
  readonly webhooks: Webhooks;
}

function endpointBody(endpoint: WebhookEndpoint) {
  const { previousSecretUntil, ...rest } = endpoint;
  return { ...rest, events: [...endpoint.events], enabled: endpoint.disabledAt === null, previousSecretUntil };
}

export const webhookRoutes: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (fastify, { webhooks }) => {
  const context = (request: { principal: Principal | null; id: string }) => ({
    actor: actorOf(principalOf(request)),
    requestId: request.id,
  });
  const tags = ['webhooks'];

  fastify.post(
    '/webhooks',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Register a webhook endpoint; its signing secret is in this answer only',
        body: Type.Object(
          { url: Url, events: EventTypes, description: Type.Optional(Type.String({ maxLength: 500 })) },
          { additionalProperties: false },
        ),
        response: { ...LIMITED_ERRORS, 201: WithSecret, 400: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const { endpoint, secret } = await webhooks.create(request.body, context(request));
      return reply.code(201).send({ endpoint: endpointBody(endpoint), secret });
    },
  );

  fastify.get(
    '/webhooks',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Webhook endpoints (secrets never shown)',
        response: { ...LIMITED_ERRORS, 200: Type.Object({ items: Type.Array(EndpointBody) }) },
      },
    },
    async () => ({ items: (await webhooks.list()).map(endpointBody) }),
  );

  fastify.get(
    '/webhooks/:id',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'One webhook endpoint',
        params: Params,
        response: { ...LIMITED_ERRORS, 200: EndpointBody, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => endpointBody(await webhooks.get(request.params.id)),
  );

  fastify.patch(
    '/webhooks/:id',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Change a webhook endpoint; enabled: true turns a disabled one on again',
        params: Params,
        body: Type.Object(
          {
            url: Type.Optional(Url),
            events: Type.Optional(EventTypes),
            description: Type.Optional(Type.String({ maxLength: 500 })),
            enabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { ...LIMITED_ERRORS, 200: EndpointBody, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => endpointBody(await webhooks.update(request.params.id, request.body, context(request))),
  );

  fastify.delete(
    '/webhooks/:id',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Remove a webhook endpoint and its deliveries',
        params: Params,
        response: { ...LIMITED_ERRORS, 204: noContent('Removed'), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      await webhooks.remove(request.params.id, context(request));
      return reply.code(204).send();
    },
  );

  fastify.post(
    '/webhooks/:id/rotate-secret',
    {
      config: ADMIN,
      schema: {
        tags,
        summary:
          'A new signing secret, shown once; the old one keeps signing beside it until previousSecretUntil (ENTITLE_WEBHOOKS_SECRET_OVERLAP)',
        params: Params,
        response: { ...LIMITED_ERRORS, 200: WithSecret, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const { endpoint, secret } = await webhooks.rotateSecret(request.params.id, context(request));
      return { endpoint: endpointBody(endpoint), secret };
    },
  );

  fastify.get(
    '/webhooks/:id/deliveries',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'The delivery log of an endpoint, newest first',
        params: Params,
        querystring: Type.Object({
          status: Type.Optional(Type.Enum(['pending', 'delivered', 'failed'])),
          after: Type.Optional(Type.String({ maxLength: 512 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
        }),
        response: { ...LIMITED_ERRORS, 200: pageOf(DeliveryBody), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const { status, after, limit } = request.query;
      const page = await webhooks.deliveries(request.params.id, {
        ...(status ? { status } : {}),
        ...(after ? { after } : {}),
        ...(limit ? { limit } : {}),
      });
      return { items: [...page.items], ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
    },
  );

  fastify.get(
    '/webhooks/:id/deliveries/:deliveryId/attempts',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'The attempts of one delivery, newest first (the last 20 kept, pruned with the audit retention)',
        params: Type.Object({
          id: Type.String({ minLength: 1, maxLength: 64 }),
          deliveryId: Type.String({ minLength: 1, maxLength: 64 }),
        }),
        response: {
          ...LIMITED_ERRORS,
          200: Type.Object({ items: Type.Array(AttemptBody) }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) => ({ items: [...(await webhooks.attempts(request.params.id, request.params.deliveryId))] }),
  );

  fastify.post(
    '/webhooks/:id/replay',
    {
      config: ADMIN,
      schema: {
        tags,
        summary:
          'Send one delivery again, or every delivery made in [from, to) (at most 1000), with the same webhook-id',
        params: Params,
        body: Type.Union([
          Type.Object({ deliveryId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
          Type.Object(
            { from: Type.String({ format: 'date-time' }), to: Type.String({ format: 'date-time' }) },
            { additionalProperties: false },
          ),
        ]),
        response: { ...LIMITED_ERRORS, 200: Type.Object({ replayed: Type.Integer() }), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => webhooks.replay(request.params.id, request.body),
  );
};
