// Liveness and readiness: /healthz says the process answers, /readyz that it can decide.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { EntitleStore } from '../store/store.js';
import type { PolicyWatcher } from '../policy/watch.js';

// Details (store kind, policy version, tenant count) only for an admin credential: to anyone
// else, and to load balancers, readiness is one word.
const Ready = Type.Object(
  {
    status: Type.Literal('ready'),
    store: Type.Optional(Type.String()),
    policyVersion: Type.Optional(Type.String()),
    policyLoadedAt: Type.Optional(Type.String()),
    tenants: Type.Optional(Type.Integer()),
  },
  { description: 'ready; the details come with an admin token' },
);
const Unavailable = Type.Object(
  {
    status: Type.Literal('unavailable'),
    store: Type.Optional(Type.String()),
    policyVersion: Type.Optional(Type.String()),
  },
  { description: 'the store does not answer' },
);

/** What readiness looks at. */
export interface HealthRoutesOptions {
  readonly store: Pick<EntitleStore, 'kind' | 'tenants'>;
  readonly policy: Pick<PolicyWatcher, 'status'>;
  /** The tenant directory (entitlements/): how many tenants it holds in memory now (the recently used). */
  readonly tenants: { readonly size: number };
}

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (fastify, deps) => {
  // No credential: load balancers and orchestrators call these.
  const tags = ['health'];
  fastify.get(
    '/healthz',
    {
      schema: {
        tags,
        summary: 'Liveness',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  fastify.get(
    '/readyz',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: 'Readiness: the store answers and a policy is in force',
        security: [],
        response: { 200: Ready, 503: Unavailable },
      },
    },
    async (request, reply) => {
      const policy = deps.policy.status;
      const detailed = request.principal?.role === 'admin';
      try {
        // A read through the store proves the database answers.
        await deps.store.tenants.list({ limit: 1 });
      } catch {
        return reply.status(503).send({
          status: 'unavailable' as const,
          ...(detailed ? { store: deps.store.kind, policyVersion: policy.version } : {}),
        });
      }
      if (!detailed) return { status: 'ready' as const };
      return {
        status: 'ready' as const,
        store: deps.store.kind,
        policyVersion: policy.version,
        policyLoadedAt: policy.loadedAt,
        tenants: deps.tenants.size,
      };
    },
  );
};
