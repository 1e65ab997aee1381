// Metered usage over HTTP, for other services: consume, refund, reserve (then commit or
// release), and read. A member token works on its own tenant; an admin or client token names
// the tenant with `tenantId` (the tenant never comes from anything else).

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { actorOf, principalOf, type Principal } from '../auth/principal.js';
import { RoleNotAllowedError } from '../errors.js';
import { AUTH_ERRORS, ErrorBody } from '../http/schemas.js';
import type { Meters, UsageAnswer } from './meters.js';
import { MAX_RESERVATION_SECONDS, MAX_USAGE_AMOUNT } from './meters.js';
import { GrantedBody, LimitReachedBody, MeterReadingSchema, ReservationBody, withReading } from './usage-schemas.js';

export interface UsageRoutesOptions {
  readonly meters: Meters;
}

const USAGE_ROLES = ['member', 'admin', 'client'] as const;

const TenantField = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 64,
    description: "the tenant; defaults to the caller's, only admin and client tokens may name another",
  }),
);
const FeatureField = Type.String({
  minLength: 1,
  maxLength: 128,
  description: 'a meter feature, e.g. sms_reminders_per_month',
});
const AmountField = Type.Integer({
  minimum: 1,
  maximum: MAX_USAGE_AMOUNT,
  description: `units, a whole number from 1 to ${MAX_USAGE_AMOUNT}`,
});
const KeyField = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 200,
    description: 'the same key within 24 hours gets the first answer and counts once; with another body it is a 409',
  }),
);

const UsageBody = Type.Object(
  { feature: FeatureField, amount: AmountField, idempotencyKey: KeyField, tenantId: TenantField },
  { additionalProperties: false },
);
const ReserveBody = Type.Object(
  {
    feature: FeatureField,
    amount: AmountField,
    ttlSeconds: Type.Integer({
      minimum: 1,
      maximum: MAX_RESERVATION_SECONDS,
      description: 'how long the units are held; unused they go back by themselves',
    }),
    idempotencyKey: KeyField,
    tenantId: TenantField,
  },
  { additionalProperties: false },
);
const CommitBody = Type.Object(
  {
    amount: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_USAGE_AMOUNT,
        description: 'units used, at most what was reserved (default: all); the rest goes back',
      }),
    ),
    tenantId: TenantField,
  },
  { additionalProperties: false },
);
const ReleaseBody = Type.Object({ tenantId: TenantField }, { additionalProperties: false });
const ReservationParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
const EndedBody = withReading({ reservationId: Type.String(), committed: Type.Integer(), released: Type.Integer() });
const UsageErrors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody, ...AUTH_ERRORS } as const;

/** The tenant a request works on: its own, or the one an admin or client token names. */
export function usageTenant(principal: Principal, tenantId: string | undefined): string {
  if (tenantId === undefined || tenantId === principal.tenantId) return principal.tenantId;
  if (principal.role === 'member')
    throw new RoleNotAllowedError('member', 'an admin or client token to name another tenant');
  return tenantId;
}

function send(reply: FastifyReply, answer: UsageAnswer): FastifyReply {
  return reply.status(answer.status).send(answer.body);
}

export const usageRoutes: FastifyPluginAsyncTypebox<UsageRoutesOptions> = async (fastify, { meters }) => {
  const context = (principal: Principal, requestId: string) => ({ actor: actorOf(principal), requestId });

  fastify.post(
    '/api/usage/consume',
    {
      config: { auth: USAGE_ROLES },
      schema: {
        tags: ['usage'],
        summary:
          "Consume units of a meter, atomically: granted only while the tenant's allowance (then top-ups) covers them",
        body: UsageBody,
        response: { 200: GrantedBody, ...UsageErrors, 403: LimitReachedBody },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { feature, amount, idempotencyKey, tenantId } = request.body;
      const answer = await meters.consume({
        tenantId: usageTenant(principal, tenantId),
        feature,
        amount,
        idempotencyKey,
        context: context(principal, request.id),
      });
      return send(reply, answer);
    },
  );

  fastify.post(
    '/api/usage/refund',
    {
      config: { auth: USAGE_ROLES },
      schema: {
        tags: ['usage'],
        summary: 'Give units back to the current period (usage never goes below 0)',
        body: UsageBody,
        response: { 200: withReading({ refunded: Type.Integer() }), ...UsageErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { feature, amount, idempotencyKey, tenantId } = request.body;
      return send(
        reply,
        await meters.refund({
          tenantId: usageTenant(principal, tenantId),
          feature,
          amount,
          idempotencyKey,
          context: context(principal, request.id),
        }),
      );
    },
  );

  fastify.post(
    '/api/usage/reserve',
    {
      config: { auth: USAGE_ROLES },
      schema: {
        tags: ['usage'],
        summary: 'Hold units for work that takes time; commit what was used, release the rest, or let it expire',
        body: ReserveBody,
        response: { 200: ReservationBody, ...UsageErrors, 403: LimitReachedBody },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { feature, amount, ttlSeconds, idempotencyKey, tenantId } = request.body;
      return send(
        reply,
        await meters.reserve({
          tenantId: usageTenant(principal, tenantId),
          feature,
          amount,
          ttlSeconds,
          idempotencyKey,
          context: context(principal, request.id),
        }),
      );
    },
  );

  fastify.post(
    '/api/usage/reservations/:id/commit',
    {
      config: { auth: USAGE_ROLES },
      schema: {
        tags: ['usage'],
        summary: 'Consume what a reservation held (or part of it; the rest goes back)',
        params: ReservationParams,
        body: CommitBody,
        response: { 200: EndedBody, ...UsageErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const tenant = usageTenant(principal, request.body.tenantId);
      return send(
        reply,
        await meters.endReservation(tenant, request.params.id, {
          commit: request.body.amount,
          context: context(principal, request.id),
        }),
      );
    },
  );

  fastify.post(
    '/api/usage/reservations/:id/release',
    {
      config: { auth: USAGE_ROLES },
      schema: {
        tags: ['usage'],
        summary: 'Give back everything a reservation held',
        params: ReservationParams,
        body: Type.Optional(ReleaseBody),
        response: { 200: EndedBody, ...UsageErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const tenant = usageTenant(principal, request.body?.tenantId);
      return send(
        reply,
        await meters.endReservation(tenant, request.params.id, { context: context(principal, request.id) }),
      );
    },
  );

  fastify.get(
    '/api/usage',
    {
      config: { auth: USAGE_ROLES },
      schema: {
        tags: ['usage'],
        summary: 'Every meter of the tenant: limit, used, remaining and when it resets',
        querystring: Type.Object({ tenantId: TenantField }, { additionalProperties: false }),
        response: {
          200: Type.Object({ tenant: Type.String(), meters: Type.Array(MeterReadingSchema) }),
          ...UsageErrors,
        },
      },
    },
    async (request) => {
      const tenant = usageTenant(principalOf(request), request.query.tenantId);
      return { tenant, meters: await meters.readAll(tenant) };
    },
  );
};
