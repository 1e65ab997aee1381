// Liveness and readiness: /healthz says the process answers, /readyz that it can decide.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { EntitleServices } from '../services.js';

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
  { status: Type.Literal('unavailable'), store: Type.Optional(Type.String()), policyVersion: Type.Optional(Type.String()) },
  { description: 'the store does not answer' },
);

export const healthRoutes: FastifyPluginAsyncTypebox<{ services: EntitleServices }> = async (fastify, { services }) => {
  // No credential: load balancers and orchestrators call these.
  const tags = ['health'];
  fastify.get('/healthz', { schema: { tags, summary: 'Liveness', security: [], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  fastify.get(
    '/readyz',
    { config: { auth: 'optional' }, schema: { tags, summary: 'Readiness: the store answers and a policy is in force', security: [], response: { 200: Ready, 503: Unavailable } } },
    async (request, reply) => {
      const policy = services.policy.status;
      const detailed = request.principal?.role === 'admin';
      try {
        // A read through the store proves the database answers.
        await services.store.tenants.list({ limit: 1 });
      } catch {
        return reply.status(503).send({ status: 'unavailable' as const, ...(detailed ? { store: services.store.kind, policyVersion: policy.version } : {}) });
      }
      if (!detailed) return { status: 'ready' as const };
      return { status: 'ready' as const, store: services.store.kind, policyVersion: policy.version, policyLoadedAt: policy.loadedAt, tenants: services.tenants.size };
    },
  );
};
