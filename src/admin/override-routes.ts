// Per-tenant overrides for operators, with optimistic concurrency: every override has a
// version, GET returns it as an ETag, and PUT/DELETE with If-Match refuse a stale write (412).

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { actorOf, principalOf } from '../auth/principal.js';
import { FeatureNotFoundError, InvalidInputError, OverrideNotFoundError, TenantNotFoundError } from '../errors.js';
import type { EntitleStore, Override, WriteCondition } from '../store/store.js';
import {
  ADMIN,
  DeleteOverrideQuery,
  ErrorBody,
  FeatureKey,
  LIMITED_ERRORS,
  OverrideBody,
  OverrideParams,
  pageOf,
  PutOverrideBody,
  TenantId,
  TenantParams,
} from './admin-schemas.js';
import type { TenantOperations } from '../tenants/tenant-operations.js';
import type { PolicyWatcher } from '../policy/watch.js';

/** `"3"` (or W/"3") ↔ version 3. Version 0 stands for "no override yet". */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/** If-Match → the version a write requires; undefined when the header is absent or "*". */
export function conditionFrom(ifMatch: string | undefined): WriteCondition | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(ifMatch.trim());
  if (!match) throw new InvalidInputError('If-Match: must be an ETag from a previous read, such as "3"');
  return { ifVersion: Number(match[1]) };
}

const IfMatchHeaders = Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 64 })) });

const AllOverridesQuery = Type.Object(
  {
    tenant: Type.Optional(TenantId),
    feature: Type.Optional(FeatureKey),
    after: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9][a-z0-9._-]{0,63}:[a-z][a-z0-9_]{0,63}$',
        description: 'nextCursor of the previous page',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  },
  { additionalProperties: false },
);

/** Orders overrides by tenant, then feature (code units, as the cursor compares them). */
const cursorOf = (override: Override) => `${override.tenantId}:${override.feature}`;

/** What the override routes use. */
export interface OverrideRoutesOptions {
  readonly store: Pick<EntitleStore, 'tenants' | 'overrides'>;
  readonly operations: TenantOperations;
  readonly policy: Pick<PolicyWatcher, 'snapshot'>;
  readonly clock: () => number;
}

export const overrideRoutes: FastifyPluginAsyncTypebox<OverrideRoutesOptions> = async (fastify, deps) => {
  const { store, operations } = deps;
  const tags = ['overrides'];
  const present = (override: Override) => ({
    ...override,
    active: override.expiresAt === null || Date.parse(override.expiresAt) > deps.clock(),
  });
  const send = (reply: FastifyReply, override: Override, status = 200) =>
    reply.status(status).header('etag', etagOf(override.version)).send(present(override));

  async function requireTenant(tenantId: string): Promise<void> {
    if (!(await store.tenants.get(tenantId))) throw new TenantNotFoundError(tenantId);
  }
  function requireFeature(feature: string): void {
    if (!deps.policy.snapshot.features.has(feature)) throw new FeatureNotFoundError(feature);
  }
  /** No override: a feature the policy does not know is named as such. An override left from an older policy can still be read and removed. */
  function notFound(tenant: string, feature: string): Error {
    return deps.policy.snapshot.features.has(feature)
      ? new OverrideNotFoundError(tenant, feature)
      : new FeatureNotFoundError(feature);
  }

  // Overrides are per-tenant exceptions, few next to tenants: a page is cut from the filtered list.
  fastify.get(
    '/overrides',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: "Every tenant's overrides, by tenant then feature, a page at a time",
        description: 'Optionally only one tenant or one feature (e.g. who has can_use_webhooks by override).',
        querystring: AllOverridesQuery,
        response: { ...LIMITED_ERRORS, 200: pageOf(OverrideBody), 400: ErrorBody },
      },
    },
    async (request) => {
      const { tenant, feature, after, limit = 100 } = request.query;
      const all = await store.overrides.list({
        ...(tenant ? { tenantId: tenant } : {}),
        ...(feature ? { feature } : {}),
      });
      const sorted = [...all].sort((a, b) => (cursorOf(a) < cursorOf(b) ? -1 : cursorOf(a) > cursorOf(b) ? 1 : 0));
      const rest = after === undefined ? sorted : sorted.filter((override) => cursorOf(override) > after);
      const items = rest.slice(0, limit).map(present);
      const last = items.at(-1);
      return rest.length > limit && last ? { items, nextCursor: cursorOf(last) } : { items };
    },
  );

  fastify.get(
    '/tenants/:tenant/overrides',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: "A tenant's overrides",
        params: TenantParams,
        response: {
          ...LIMITED_ERRORS,
          200: Type.Object({ items: Type.Array(OverrideBody) }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      await requireTenant(request.params.tenant);
      return { items: (await store.overrides.list({ tenantId: request.params.tenant })).map(present) };
    },
  );

  fastify.get(
    '/tenants/:tenant/overrides/:feature',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Read an override (its ETag is its version)',
        params: OverrideParams,
        response: { ...LIMITED_ERRORS, 200: OverrideBody, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const { tenant, feature } = request.params;
      await requireTenant(tenant);
      const override = await store.overrides.get(tenant, feature);
      if (!override) throw notFound(tenant, feature);
      return send(reply, override);
    },
  );

  fastify.put(
    '/tenants/:tenant/overrides/:feature',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Create or replace an override',
        description:
          'The value must fit the feature type. With If-Match, the write happens only if the override is still at that version ("0": only if there is none).',
        params: OverrideParams,
        headers: IfMatchHeaders,
        body: PutOverrideBody,
        response: {
          ...LIMITED_ERRORS,
          200: OverrideBody,
          201: OverrideBody,
          400: ErrorBody,
          404: ErrorBody,
          412: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { tenant, feature } = request.params;
      requireFeature(feature);
      const condition = conditionFrom(request.headers['if-match']);
      const principal = principalOf(request);
      const { before, after } = await operations.setOverride(
        {
          tenantId: tenant,
          feature,
          value: request.body.value,
          reason: request.body.reason,
          expiresAt: request.body.expiresAt ?? null,
        },
        { actor: actorOf(principal), requestId: request.id },
        condition,
      );
      return send(reply, after, before ? 200 : 201);
    },
  );

  fastify.delete(
    '/tenants/:tenant/overrides/:feature',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Remove an override: the tenant gets its plan value again',
        params: OverrideParams,
        headers: IfMatchHeaders,
        querystring: DeleteOverrideQuery,
        response: { ...LIMITED_ERRORS, 200: OverrideBody, 400: ErrorBody, 404: ErrorBody, 412: ErrorBody },
      },
    },
    async (request) => {
      const { tenant, feature } = request.params;
      await requireTenant(tenant);
      const principal = principalOf(request);
      const condition = conditionFrom(request.headers['if-match']);
      try {
        const removed = await operations.clearOverride(
          tenant,
          feature,
          {
            actor: actorOf(principal),
            requestId: request.id,
            ...(request.query.reason ? { reason: request.query.reason } : {}),
          },
          condition,
        );
        return present(removed);
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ENT_ERR_OVERRIDE_NOT_FOUND') throw notFound(tenant, feature);
        throw error;
      }
    },
  );
};
