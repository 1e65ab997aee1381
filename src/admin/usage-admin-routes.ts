// Metered usage for operators: a tenant's meters with past periods, top-ups (grants), resets
// and the tenant's open reservations (listed, released). The admin rows of usage-authority.ts.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf, principalOf, type Principal } from '../auth/principal.js';
import { MAX_USAGE_AMOUNT, type Meters } from '../usage/meters.js';
import { endedBody } from '../usage/usage-answers.js';
import { GrantSchema, ReservationSchema, withReading } from '../usage/usage-schemas.js';
import { ADMIN, ErrorBody, LIMITED_ERRORS, TenantId } from './admin-schemas.js';

const MeterParams = Type.Object({ tenant: TenantId, feature: Type.String({ minLength: 1, maxLength: 128 }) });

const GrantBody = Type.Object(
  {
    amount: Type.Integer({ minimum: 1, maximum: MAX_USAGE_AMOUNT, description: 'extra units' }),
    expiresAt: Type.Optional(
      Type.String({ format: 'date-time', description: 'when unused units lapse (default: never)' }),
    ),
    reason: Type.String({ minLength: 1, maxLength: 500, description: 'why, for the audit log' }),
  },
  { additionalProperties: false },
);

const UsageReport = Type.Object({
  tenant: Type.String(),
  meters: Type.Array(withReading({ grants: Type.Array(GrantSchema) })),
  history: Type.Array(
    Type.Object({
      feature: Type.String(),
      periodStart: Type.String(),
      used: Type.Integer(),
      fromGrants: Type.Integer(),
    }),
    {
      description: "every period's usage, current and past, newest first per feature",
    },
  ),
});

export interface UsageAdminRoutesOptions {
  readonly meters: Meters;
}

export const usageAdminRoutes: FastifyPluginAsyncTypebox<UsageAdminRoutesOptions> = async (fastify, { meters }) => {
  const context = (principal: Principal, requestId: string) => ({ actor: actorOf(principal), requestId });
  const tags = ['usage'];
  const errors = { ...LIMITED_ERRORS, 400: ErrorBody, 404: ErrorBody };

  fastify.get(
    '/tenants/:tenant/usage',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: "A tenant's meters now, their top-ups, and every period's usage",
        params: Type.Object({ tenant: TenantId }),
        response: { ...errors, 200: UsageReport },
      },
    },
    async (request) => {
      const tenant = request.params.tenant;
      const readings = await meters.readAll(tenant);
      const withGrants = [];
      for (const reading of readings)
        withGrants.push({ ...reading, grants: await meters.grants(tenant, reading.feature) });
      return { tenant, meters: withGrants, history: await meters.history(tenant) };
    },
  );

  fastify.post(
    '/tenants/:tenant/usage/:feature/grants',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Top up a meter: extra units, used after the allowance, soonest-expiring first',
        params: MeterParams,
        body: GrantBody,
        response: { ...errors, 201: GrantSchema },
      },
    },
    async (request, reply) => {
      const { tenant, feature } = request.params;
      const grant = await meters.grant(
        tenant,
        feature,
        {
          amount: request.body.amount,
          reason: request.body.reason,
          expiresAt: request.body.expiresAt ? new Date(request.body.expiresAt).toISOString() : null,
        },
        context(principalOf(request), request.id),
      );
      return reply.status(201).send(grant);
    },
  );

  fastify.post(
    '/tenants/:tenant/usage/:feature/reset',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: "Set the current period's usage of a meter back to 0 and release its open reservations (audited)",
        params: MeterParams,
        response: {
          ...errors,
          200: withReading({
            releasedReservations: Type.Integer({ description: 'units the released reservations held' }),
          }),
        },
      },
    },
    async (request) => {
      const { reading, releasedReservations } = await meters.reset(
        request.params.tenant,
        request.params.feature,
        context(principalOf(request), request.id),
      );
      return { ...reading, releasedReservations };
    },
  );

  fastify.get(
    '/tenants/:tenant/usage/reservations',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: "A tenant's open reservations, oldest first",
        params: Type.Object({ tenant: TenantId }),
        querystring: Type.Object(
          { feature: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'only this meter' })) },
          { additionalProperties: false },
        ),
        response: { ...errors, 200: Type.Object({ items: Type.Array(ReservationSchema) }) },
      },
    },
    async (request) => ({ items: await meters.reservations(request.params.tenant, request.query.feature) }),
  );

  fastify.post(
    '/tenants/:tenant/usage/reservations/:id/release',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Give back everything a reservation of the tenant holds (audited)',
        params: Type.Object({ tenant: TenantId, id: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: {
          ...errors,
          409: ErrorBody,
          200: withReading({ reservationId: Type.String(), committed: Type.Integer(), released: Type.Integer() }),
        },
      },
    },
    async (request) => {
      const ended = await meters.endReservation(request.params.tenant, request.params.id, {
        end: { kind: 'release' },
        audited: true,
        context: context(principalOf(request), request.id),
      });
      return endedBody(ended);
    },
  );
};
