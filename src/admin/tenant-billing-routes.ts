// A tenant's billing for operators: read its status, link it to a billing customer, unlink it.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { actorOf, principalOf } from '../auth/principal.js';
import { billingStatus, BillingStatusBody } from '../billing/billing-view.js';
import { TenantNotFoundError } from '../errors.js';
import type { PolicyWatcher } from '../policy/watch.js';
import type { EntitleStore } from '../store/store.js';
import { ADMIN, ErrorBody, LIMITED_ERRORS, TenantParams } from './admin-schemas.js';

const LinkBody = Type.Object({
  provider: Type.Literal('stripe'),
  customerId: Type.String({ pattern: '^cus_[A-Za-z0-9]{1,250}$', description: 'the Stripe customer id (cus_…)' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
const LinkInput = Type.Object(
  { provider: Type.Literal('stripe'), customerId: LinkBody.properties.customerId },
  { additionalProperties: false },
);
const NullableLink = Type.Union([LinkBody, Type.Null()]);

/** What the tenant billing routes use. */
export interface TenantBillingRoutesOptions {
  readonly store: Pick<EntitleStore, 'billing' | 'changes'>;
  readonly policy: Pick<PolicyWatcher, 'snapshot'>;
  readonly clock: () => number;
}

export const tenantBillingRoutes: FastifyPluginAsyncTypebox<TenantBillingRoutesOptions> = async (
  fastify,
  { store, policy, clock },
) => {
  const context = (request: FastifyRequest) => ({ actor: actorOf(principalOf(request)), requestId: request.id });
  const tags = ['tenants', 'billing'];

  fastify.get(
    '/tenants/:tenant/billing',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: "A tenant's billing: link, plan and cause now, subscriptions",
        params: TenantParams,
        response: {
          ...LIMITED_ERRORS,
          200: Type.Union([BillingStatusBody, Type.Null()]),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const [snapshot] = await store.changes.load([request.params.tenant]);
      if (!snapshot) throw new TenantNotFoundError(request.params.tenant);
      return billingStatus(policy.snapshot, snapshot.billing, clock());
    },
  );

  fastify.put(
    '/tenants/:tenant/billing',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Link a tenant to its billing customer (replacing its link)',
        params: TenantParams,
        body: LinkInput,
        response: {
          ...LIMITED_ERRORS,
          200: Type.Object({ before: NullableLink, after: LinkBody }),
          400: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request) => {
      const { before, after } = await store.billing.link(
        request.params.tenant,
        request.body.provider,
        request.body.customerId,
        context(request),
      );
      return { before: before ?? null, after };
    },
  );

  fastify.delete(
    '/tenants/:tenant/billing',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: "Remove a tenant's billing link",
        params: TenantParams,
        response: { ...LIMITED_ERRORS, 200: Type.Object({ before: NullableLink }), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => ({ before: (await store.billing.unlink(request.params.tenant, context(request))) ?? null }),
  );
};
