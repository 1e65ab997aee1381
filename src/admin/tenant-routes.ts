// Tenants and their entitlements for operators: create, read, list (cursor pages), change
// plan, delete, and every feature resolved with why.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf, principalOf, type Principal } from '../auth/principal.js';
import { billingStatus, BillingStatusBody } from '../billing/billing-view.js';
import { decideAll, planNow } from '../entitlements/decide.js';
import { explain } from '../entitlements/explain.js';
import { heldBackBy, type ReleaseSwitch } from '../entitlements/release-switch.js';
import { tenantState } from '../entitlements/tenant-directory.js';
import { TenantNotFoundError } from '../errors.js';
import {
  ADMIN,
  CreateTenantBody,
  ErrorBody,
  Explanation,
  LIMITED_ERRORS,
  pageOf,
  TenantBody,
  TenantDetailBody,
  TenantListQuery,
  TenantParams,
  UpdateTenantBody,
} from './admin-schemas.js';
import { searchTenants } from './tenant-search.js';
import type { EntitleStore } from '../store/store.js';
import type { TenantOperations } from '../tenants/tenant-operations.js';
import type { PolicyWatcher } from '../policy/watch.js';

const TenantWithBilling = Type.Object({
  ...TenantDetailBody.properties,
  addons: Type.Array(
    Type.Object({
      addon: Type.String(),
      quantity: Type.Integer(),
      source: Type.Union([Type.Literal('operator'), Type.Literal('billing')]),
    }),
    { description: "add-ons held beside the plan: an operator's, and each billing subscription's (they add up)" },
  ),
  billing: Type.Union([BillingStatusBody, Type.Null()]),
});

/** What the tenant routes use. */
export interface TenantRoutesOptions {
  readonly store: Pick<EntitleStore, 'tenants' | 'changes' | 'connections'>;
  readonly operations: TenantOperations;
  readonly policy: Pick<PolicyWatcher, 'snapshot'>;
  readonly releases: ReleaseSwitch | undefined;
  readonly clock: () => number;
}

export const tenantRoutes: FastifyPluginAsyncTypebox<TenantRoutesOptions> = async (fastify, deps) => {
  const { store, operations } = deps;
  const context = (principal: Principal, requestId: string) => ({ actor: actorOf(principal), requestId });
  const tags = ['tenants'];

  fastify.post(
    '/tenants',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Create a tenant',
        body: CreateTenantBody,
        response: { ...LIMITED_ERRORS, 201: TenantBody, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const tenant = await operations.createTenant(request.body, context(principalOf(request), request.id));
      return reply.status(201).header('location', `/api/admin/tenants/${tenant.id}`).send(tenant);
    },
  );

  fastify.get(
    '/tenants',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'List tenants by id, a page at a time; optionally only those matching a search or on a plan',
        description: 'q: part of the id or the name (any case). plan: only tenants on this plan.',
        querystring: TenantListQuery,
        response: { ...LIMITED_ERRORS, 200: pageOf(TenantBody), 400: ErrorBody },
      },
    },
    async (request) => {
      const { after, limit = 100, q, plan } = request.query;
      if (q === undefined && plan === undefined) {
        const page = await store.tenants.list({ ...(after ? { after } : {}), limit });
        return { ...page, items: [...page.items] };
      }
      return searchTenants(store, { after, limit, q, plan });
    },
  );

  fastify.get(
    '/tenants/:tenant',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Read a tenant, with a summary of what it holds and its billing status',
        params: TenantParams,
        response: { ...LIMITED_ERRORS, 200: TenantWithBilling, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const [snapshot] = await store.changes.load([request.params.tenant]);
      if (!snapshot) throw new TenantNotFoundError(request.params.tenant);
      const connections = await store.connections.list(snapshot.tenant.id);
      const valid = connections.filter((connection) => connection.status === 'valid').length;
      return {
        ...snapshot.tenant,
        connections: { valid, invalid: connections.length - valid },
        addons: (snapshot.addons ?? []).map(({ addon, quantity, billing }) => ({
          addon,
          quantity,
          source: billing ? ('billing' as const) : ('operator' as const),
        })),
        billing: billingStatus(deps.policy.snapshot, snapshot.billing, deps.clock()),
      };
    },
  );

  fastify.patch(
    '/tenants/:tenant',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: "Change a tenant's plan",
        params: TenantParams,
        body: UpdateTenantBody,
        response: {
          ...LIMITED_ERRORS,
          200: Type.Object({ before: TenantBody, after: TenantBody }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) =>
      operations.changePlan(request.params.tenant, request.body.plan, context(principalOf(request), request.id)),
  );

  fastify.delete(
    '/tenants/:tenant',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Delete a tenant with its overrides, connections and tokens (its audit rows stay)',
        params: TenantParams,
        response: { ...LIMITED_ERRORS, 200: TenantBody, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => operations.deleteTenant(request.params.tenant, context(principalOf(request), request.id)),
  );

  fastify.get(
    '/tenants/:tenant/entitlements',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Every feature resolved for a tenant, with value, source, plan and why',
        params: TenantParams,
        response: {
          ...LIMITED_ERRORS,
          200: Type.Object({
            tenant: Type.String(),
            plan: Type.String(),
            planVersion: Type.Integer(),
            policyVersion: Type.String(),
            features: Type.Array(Explanation),
          }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const { tenant: tenantId } = request.params;
      // Read through the store, not the cache: an operator sees exactly what is written.
      const [snapshot] = await store.changes.load([tenantId]);
      if (!snapshot) throw new TenantNotFoundError(tenantId);
      const policy = deps.policy.snapshot;
      // The release switch applies here as in the provider (tenant-wide: no user in this view).
      const state = tenantState(snapshot);
      const now = deps.clock();
      const features = decideAll(policy, state, now).map((decision) => {
        const { tenant: _tenant, ...rest } = explain(
          tenantId,
          decision,
          heldBackBy(decision, deps.releases, { tenantId }),
        );
        return rest;
      });
      const { plan, planVersion } = planNow(policy, state, now);
      return { tenant: tenantId, plan, planVersion, policyVersion: policy.version, features };
    },
  );
};
