// Rate limits per authenticated principal, one budget per route family (admin, OAuth, calendar,
// decisions), answered as our usual error body with Retry-After. The check runs right after
// authentication and before the gate, so denials (which write audit rows) are limited too, and
// the key is the verified principal: no spelling of the Authorization header is a new caller.

import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { principalKey } from '../auth/principal.js';
import type { RateLimitConfig } from '../config.js';
import { RateLimitedError, withDetails } from '../errors.js';

export const RATE_WINDOW_MS = 60_000;

/** The route families with a budget of their own. */
export type RouteFamily = 'admin' | 'oauth' | 'calendar' | 'decisions';

/** URL prefix → family; every other authenticated route (entitlements, OFREP, Unleash) is "decisions". */
const FAMILY_PREFIXES: readonly (readonly [string, RouteFamily])[] = [
  ['/api/admin/', 'admin'],
  ['/api/oauth/', 'oauth'],
  ['/api/calendar/', 'calendar'],
];

/** The family whose budget a route spends. */
export function routeFamily(url: string): RouteFamily {
  return FAMILY_PREFIXES.find(([prefix]) => url.startsWith(prefix))?.[1] ?? 'decisions';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * For a route that authenticates from its body (the console's sign-in): the family whose
     * budget the principal its own preHandler sets spends, checked after that preHandler.
     */
    rateFamily?: RouteFamily;
  }
}

export interface RateLimitPluginOptions {
  /** Requests per minute per principal, by family. */
  readonly limits: Pick<RateLimitConfig, RouteFamily>;
}

const rateLimitPlugin: FastifyPluginAsync<RateLimitPluginOptions> = async (fastify, options) => {
  for (const family of ['admin', 'oauth', 'calendar', 'decisions'] as const) {
    const max = options.limits?.[family];
    if (!Number.isInteger(max) || max < 1) throw new TypeError(`options.limits.${family} should be a positive integer`);
  }
  await fastify.register(rateLimit, {
    global: false,
    timeWindow: RATE_WINDOW_MS,
    errorResponseBuilder: (_request, context) =>
      withDetails(new RateLimitedError(context.after), {
        retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)),
      }),
  });
  const limiters = new Map(
    (['admin', 'oauth', 'calendar', 'decisions'] as const).map((family) => [
      family,
      fastify.rateLimit({
        max: options.limits[family],
        timeWindow: RATE_WINDOW_MS,
        // Authentication ran first (it is the route's first onRequest hook), so the principal is set.
        keyGenerator: (request: FastifyRequest) =>
          `${family}:${request.principal ? principalKey(request.principal) : `ip:${request.ip}`}`,
      }),
    ]),
  );
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const declared = route.config?.rateFamily;
    if (declared !== undefined) {
      const limiter = limiters.get(declared);
      if (!limiter) throw new TypeError(`config.rateFamily should be one of admin, oauth, calendar, decisions`);
      route.preHandler = [
        ...(route.preHandler === undefined
          ? []
          : Array.isArray(route.preHandler)
            ? route.preHandler
            : [route.preHandler]),
        limiter,
      ];
      return;
    }
    // Routes without a credential requirement (health checks) are not limited per principal.
    if (route.config?.auth === undefined || route.config.auth === 'optional') return;
    const limiter = limiters.get(routeFamily(route.url));
    if (!limiter) return;
    // The auth plugin put its hook first; the gate's (registered later) comes after this one.
    route.onRequest = [
      ...(route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]),
      limiter,
    ];
  });
};

export default fp(rateLimitPlugin, { fastify: '5.x', name: 'entitle-rate-limit', dependencies: ['entitle-auth'] });
