// Rate limits for a group of routes (admin, OAuth): per caller (the bearer credential, hashed;
// the IP when there is none), in memory, answered as our usual error body with Retry-After.

import { createHash } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RateLimitedError } from '../errors.js';

/** Applies to every route registered in `scope` after this call. */
export async function limitRoutes(scope: FastifyInstance, perMinute: number, name: string): Promise<void> {
  await scope.register(rateLimit, {
    global: true,
    max: perMinute,
    timeWindow: 60_000,
    keyGenerator: (request: FastifyRequest) => {
      const credential = request.headers.authorization;
      return `${name}:${credential ? createHash('sha256').update(credential).digest('base64url') : request.ip}`;
    },
    errorResponseBuilder: (_request, context) => new RateLimitedError(context.after),
  });
}
