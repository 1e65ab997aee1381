// Metered usage over HTTP, for other services: consume, refund, reserve (then commit or
// release), and read. Who may do what to which tenant is usage-authority.ts's table: a member
// or service token works on its own tenant, an admin token may name another with `tenantId`
// (the tenant never comes from anything else), a client token only reads.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf, principalOf, type Principal } from '../auth/principal.js';
import { AUTH_ERRORS, ErrorBody } from '../http/schemas.js';
import type { Meters } from './meters.js';
import { MAX_RESERVATION_SECONDS, MAX_USAGE_AMOUNT } from './meters.js';
import { endedBody, limitReached } from './usage-answers.js';
import { rolesFor, usageScope } from './usage-authority.js';
import { GrantedBody, LimitReachedBody, MeterReadingSchema, ReservationBody, withReading } from './usage-schemas.js';

export interface UsageRoutesOptions {
  readonly meters: Meters;
}

const TenantField = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 64,
    description: "the tenant; defaults to the caller's, only an admin token (a client token to read) may name another",
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
const RefundBody = Type.Object(
  {
    feature: FeatureField,
    idempotencyKey: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'the idempotencyKey of the consume to undo (within 24 hours of it); each consume is refunded once',
    }),
    amount: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_USAGE_AMOUNT,
        description: 'units to give back, at most what the consume took (default: all of it)',
      }),
    ),
    tenantId: TenantField,
  },
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
        description: 'units used, at most what was reserved (default: all reserved); the rest goes back',
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

export const usageRoutes: FastifyPluginAsyncTypebox<UsageRoutesOptions> = async (fastify, { meters }) => {
  const context = (principal: Principal, requestId: string) => ({ actor: actorOf(principal), requestId });

  fastify.post(
    '/api/usage/consume',
    {
      config: { auth: rolesFor('consume') },
      schema: {
        tags: ['usage'],
        summary:
          "Consume units of a meter, atomically: granted only while the tenant's allowance (then top-ups) covers them",
        body: UsageBody,
        response: { 200: GrantedBody, ...UsageErrors, 403: LimitReachedBody },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { feature, amount, idempotencyKey, tenantId } = request.body;
      const result = await meters.consume({
        tenantId: usageScope(principal, 'consume', tenantId).tenantId,
        feature,
        amount,
        idempotencyKey,
        context: context(principal, request.id),
      });
      if (!result.granted) throw limitReached(result);
      return { granted: true as const, ...result.reading, from: result.from };
    },
  );

  fastify.post(
    '/api/usage/refund',
    {
      config: { auth: rolesFor('refund') },
      schema: {
        tags: ['usage'],
        summary: 'Undo a consume named by its idempotencyKey: give back what it took (or part of it), once, audited',
        body: RefundBody,
        response: { 200: withReading({ refunded: Type.Integer() }), ...UsageErrors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { feature, amount, idempotencyKey, tenantId } = request.body;
      const result = await meters.refund({
        tenantId: usageScope(principal, 'refund', tenantId).tenantId,
        feature,
        idempotencyKey,
        amount,
        context: context(principal, request.id),
      });
      return { refunded: result.refunded, ...result.reading };
    },
  );

  fastify.post(
    '/api/usage/reserve',
    {
      config: { auth: rolesFor('reserve') },
      schema: {
        tags: ['usage'],
        summary: 'Hold units for work that takes time; commit what was used, release the rest, or let it expire',
        body: ReserveBody,
        response: { 200: ReservationBody, ...UsageErrors, 403: LimitReachedBody },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { feature, amount, ttlSeconds, idempotencyKey, tenantId } = request.body;
      const result = await meters.reserve({
        tenantId: usageScope(principal, 'reserve', tenantId).tenantId,
        feature,
        amount,
        ttlSeconds,
        idempotencyKey,
        context: context(principal, request.id),
      });
      if (!result.granted) throw limitReached(result);
      const { id, expiresAt } = result.reservation;
      return { reservationId: id, amount: result.reservation.amount, expiresAt, ...result.reading };
    },
  );

  fastify.post(
    '/api/usage/reservations/:id/commit',
    {
      config: { auth: rolesFor('end') },
      schema: {
        tags: ['usage'],
        summary: 'Consume what a reservation held (all of it by default, or part of it; the rest goes back)',
        params: ReservationParams,
        body: CommitBody,
        response: { 200: EndedBody, ...UsageErrors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const scope = usageScope(principal, 'end', request.body.tenantId);
      const ended = await meters.endReservation(scope.tenantId, request.params.id, {
        end: { kind: 'commit', amount: request.body.amount },
        holder: scope.holder,
        context: context(principal, request.id),
      });
      return endedBody(ended);
    },
  );

  fastify.post(
    '/api/usage/reservations/:id/release',
    {
      config: { auth: rolesFor('end') },
      schema: {
        tags: ['usage'],
        summary: 'Give back everything a reservation held',
        params: ReservationParams,
        body: Type.Optional(ReleaseBody),
        response: { 200: EndedBody, ...UsageErrors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const scope = usageScope(principal, 'end', request.body?.tenantId);
      const ended = await meters.endReservation(scope.tenantId, request.params.id, {
        end: { kind: 'release' },
        holder: scope.holder,
        context: context(principal, request.id),
      });
      return endedBody(ended);
    },
  );

  fastify.get(
    '/api/usage',
    {
      config: { auth: rolesFor('read') },
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
      const tenant = usageScope(principalOf(request), 'read', request.query.tenantId).tenantId;
      return { tenant, meters: await meters.readAll(tenant) };
    },
  );
};
