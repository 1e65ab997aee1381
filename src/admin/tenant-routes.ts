// Tenants and their entitlements for operators: create, read, list (cursor pages), change
// plan, delete, and every feature resolved with why.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf, type Principal } from '../auth/principal.js';
import { billingStatus, BillingStatusBody } from '../billing/billing-view.js';
import { billingOf, decideAll } from '../entitlements/decide.js';
import { explain } from '../entitlements/explain.js';
import { heldBackBy } from '../entitlements/release-switch.js';
import { tenantState } from '../entitlements/tenant-directory.js';
import { TenantNotFoundError } from '../errors.js';
import type { EntitleServices } from '../services.js';
import { ADMIN, CreateTenantBody, ErrorBody, Explanation, LIMITED_ERRORS, PageQuery, pageOf, TenantBody, TenantParams, UpdateTenantBody } from './admin-schemas.js';

const TenantWithBilling = Type.Object({ ...TenantBody.properties, billing: Type.Union([BillingStatusBody, Type.Null()]) });

export const tenantRoutes: FastifyPluginAsyncTypebox<{ services: EntitleServices }> = async (fastify, { services }) => {
  const { store, operations } = services;
  const context = (principal: Principal, requestId: string) => ({ actor: actorOf(principal), requestId });
  const tags = ['tenants'];

  fastify.post(
    '/tenants',
    { config: ADMIN, schema: { tags, summary: 'Create a tenant', body: CreateTenantBody, response: { ...LIMITED_ERRORS, 201: TenantBody, 400: ErrorBody, 409: ErrorBody } } },
    async (request, reply) => {
      const tenant = await operations.createTenant(request.body, context(request.principal as Principal, request.id));
      return reply.status(201).header('location', `/api/admin/tenants/${tenant.id}`).send(tenant);
    },
  );

  fastify.get(
    '/tenants',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'List tenants by id, a page at a time',
        querystring: PageQuery,
        response: { ...LIMITED_ERRORS, 200: pageOf(TenantBody), 400: ErrorBody },
      },
    },
    async (request) => {
      const page = await store.tenants.list({ ...(request.query.after ? { after: request.query.after } : {}), limit: request.query.limit ?? 100 });
      return { ...page, items: [...page.items] };
    },
  );

  fastify.get(
    '/tenants/:tenant',
    { config: ADMIN, schema: { tags, summary: 'Read a tenant, with its billing status', params: TenantParams, response: { ...LIMITED_ERRORS, 200: TenantWithBilling, 400: ErrorBody, 404: ErrorBody } } },
    async (request) => {
      const [snapshot] = await store.changes.load([request.params.tenant]);
      if (!snapshot) throw new TenantNotFoundError(request.params.tenant);
      return { ...snapshot.tenant, billing: billingStatus(services.policy.snapshot, snapshot.billing, services.clock()) };
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
        response: { ...LIMITED_ERRORS, 200: Type.Object({ before: TenantBody, after: TenantBody }), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => operations.changePlan(request.params.tenant, request.body.plan, context(request.principal as Principal, request.id)),
  );

  fastify.delete(
    '/tenants/:tenant',
    { config: ADMIN, schema: { tags, summary: 'Delete a tenant with its overrides, connections and tokens (its audit rows stay)', params: TenantParams, response: { ...LIMITED_ERRORS, 200: TenantBody, 400: ErrorBody, 404: ErrorBody } } },
    async (request) => operations.deleteTenant(request.params.tenant, context(request.principal as Principal, request.id)),
  );

  fastify.get(
    '/tenants/:tenant/entitlements',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Every feature resolved for a tenant, with value, source, plan and why',
        params: TenantParams,
        response: { ...LIMITED_ERRORS, 200: Type.Object({ tenant: Type.String(), plan: Type.String(), policyVersion: Type.String(), features: Type.Array(Explanation) }), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const { tenant: tenantId } = request.params;
      // Read through the store, not the cache: an operator sees exactly what is written.
      const [snapshot] = await store.changes.load([tenantId]);
      if (!snapshot) throw new TenantNotFoundError(tenantId);
      const policy = services.policy.snapshot;
      // The release switch applies here as in the provider (tenant-wide: no user in this view).
      const state = tenantState(snapshot);
      const now = services.clock();
      const features = decideAll(policy, state, now).map((decision) => {
        const { tenant: _tenant, ...rest } = explain(tenantId, decision, heldBackBy(decision, services.releases, { tenantId }));
        return rest;
      });
      const plan = (state.billing ? billingOf(policy, state.billing, now)?.plan : undefined) ?? snapshot.tenant.plan;
      return { tenant: tenantId, plan, policyVersion: policy.version, features };
    },
  );
};
