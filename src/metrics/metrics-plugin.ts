// GET /metrics (Prometheus text format) for operator and SDK-client tokens, and the request
// duration histogram fed from every response. Only those roles: the figures describe every
// tenant's traffic together, which no tenant's member may see. No tenant or user label exists.

import type { FastifyPluginAsync, onResponseHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { Histogram } from 'prom-client';
import { Type } from 'typebox';
import { AUTH_ERRORS } from '../http/schemas.js';
import type { EntitleMetrics } from './metrics.js';

export interface MetricsPluginOptions {
  readonly metrics: EntitleMetrics;
}

const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (fastify, { metrics }) => {
  if (!metrics || typeof metrics.scrape !== 'function')
    throw new TypeError('options.metrics should be an EntitleMetrics');
  // One child per method/route/status seen: a lookup instead of hashing a labels object per request.
  const children = new Map<string, Histogram.Internal<'method' | 'route' | 'status'>>();
  const observe: onResponseHookHandler = function observeDuration(request, reply, done) {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const key = `${request.method} ${status} ${route}`;
    let child = children.get(key);
    if (child === undefined)
      children.set(
        key,
        (child = metrics.httpDuration.labels({ method: request.method, route, status: String(status) })),
      );
    child.observe(reply.elapsedTime / 1000);
    done();
  };
  fastify.addHook('onResponse', observe);

  fastify.get(
    '/metrics',
    {
      config: { auth: ['admin', 'client'] },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format); admin or client tokens only',
        produces: ['text/plain'],
        response: { 200: Type.String({ description: 'Prometheus text exposition format 0.0.4' }), ...AUTH_ERRORS },
      },
    },
    async (_request, reply) => {
      const { contentType, text } = await metrics.scrape();
      return reply.type(contentType).header('cache-control', 'no-store').send(text);
    },
  );
};

export default fp(metricsPlugin, { fastify: '5.x', name: 'entitle-metrics' });
