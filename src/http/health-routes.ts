// Liveness and readiness: /healthz says the process answers, /readyz that it can decide.

import type { FastifyPluginAsync } from 'fastify';
import type { EntitleServices } from '../services.js';

export const healthRoutes: FastifyPluginAsync<{ services: EntitleServices }> = async (fastify, { services }) => {
  fastify.get('/healthz', async () => ({ status: 'ok' }));

  fastify.get('/readyz', async (_request, reply) => {
    const policy = services.policy.status;
    try {
      // A read through the store proves the database answers.
      await services.store.tenants.list({ limit: 1 });
    } catch {
      return reply.status(503).send({ status: 'unavailable', store: services.store.kind, policyVersion: policy.version });
    }
    return { status: 'ready', store: services.store.kind, policyVersion: policy.version, policyLoadedAt: policy.loadedAt, tenants: services.tenants.size };
  });
};
