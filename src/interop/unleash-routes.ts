// The Unleash client API (GET /api/client/features, POST register and metrics), so any Unleash
// SDK can evaluate Entitle's boolean decisions in-process. The payload holds every tenant's
// decisions: admin tokens only. It is cached and rebuilt when the policy or a tenant changes
// (before the write that changed it returns) or an override expires.

import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { EntitleServices } from '../services.js';
import { buildUnleashPayload } from './unleash-payload.js';

interface CachedPayload {
  readonly json: string;
  readonly etag: string;
  readonly validUntil: number;
}

export const unleashRoutes: FastifyPluginAsync<{ services: EntitleServices }> = async (fastify, { services }) => {
  let cached: CachedPayload | undefined;
  const invalidate = (): void => {
    cached = undefined;
  };
  services.tenants.on('change', invalidate);
  services.policy.on('change', invalidate);
  fastify.addHook('onClose', async () => {
    services.tenants.off('change', invalidate);
    services.policy.off('change', invalidate);
  });
  const counters = { registrations: 0, metrics: 0 };

  function current(): CachedPayload {
    const now = services.clock();
    if (cached && now < cached.validUntil) return cached;
    const { payload, validUntil } = buildUnleashPayload(services.policy.snapshot, services.tenants.tenants(), now);
    const json = JSON.stringify(payload);
    cached = { json, etag: `"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`, validUntil };
    return cached;
  }

  fastify.get('/api/client/features', { config: { auth: 'admin' }, schema: { tags: ['unleash'], summary: 'Unleash client API: boolean features as toggles (ETag / If-None-Match)' } }, async (request, reply) => {
    const payload = current();
    reply.header('etag', payload.etag);
    if (request.headers['if-none-match'] === payload.etag) return reply.status(304).send();
    return reply.type('application/json; charset=utf-8').send(payload.json);
  });

  fastify.post('/api/client/register', { config: { auth: 'admin' }, schema: { tags: ['unleash'], summary: 'Unleash client registration (accepted and counted)' } }, async (request, reply) => {
    counters.registrations++;
    const body = request.body as { appName?: unknown } | undefined;
    request.log.debug({ appName: typeof body?.appName === 'string' ? body.appName : undefined }, 'unleash client registered');
    return reply.status(202).send();
  });

  fastify.post('/api/client/metrics', { config: { auth: 'admin' }, schema: { tags: ['unleash'], summary: 'Unleash client metrics (accepted and counted)' } }, async (_request, reply) => {
    counters.metrics++;
    return reply.status(202).send();
  });

};
