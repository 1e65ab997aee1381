// Liveness and readiness: /healthz says the process answers, /readyz that it can decide.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { EntitleServices } from '../services.js';

const Ready = Type.Object({
  status: Type.Literal('ready'),
  store: Type.String(),
  policyVersion: Type.String(),
  policyLoadedAt: Type.String(),
  tenants: Type.Integer(),
});
const Unavailable = Type.Object({ status: Type.Literal('unavailable'), store: Type.String(), policyVersion: Type.String() }, { description: 'the store does not answer' });

export const healthRoutes: FastifyPluginAsyncTypebox<{ services: EntitleServices }> = async (fastify, { services }) => {
  // No credential: load balancers and orchestrators call these.
  const tags = ['health'];
  fastify.get('/healthz', { schema: { tags, summary: 'Liveness', security: [], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  fastify.get('/readyz', { schema: { tags, summary: 'Readiness: the store answers and a policy is in force', security: [], response: { 200: Ready, 503: Unavailable } } }, async (_request, reply) => {
    const policy = services.policy.status;
    try {
      // A read through the store proves the database answers.
      await services.store.tenants.list({ limit: 1 });
    } catch {
      return reply.status(503).send({ status: 'unavailable', store: services.store.kind, policyVersion: policy.version });
    }
    return { status: 'ready' as const, store: services.store.kind, policyVersion: policy.version, policyLoadedAt: policy.loadedAt, tenants: services.tenants.size };
  });
};
