// Rate limits for a group of routes (admin, OAuth), in memory, answered as our usual error body
// with Retry-After. Two limits, both checked before authentication so that failed logins count:
// requests per caller (the bearer credential, hashed; the IP when there is none), and failed
// authentications (401s) per IP, so guessing a different token each time does not escape.

import { createHash } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RateLimitedError, withDetails } from '../errors.js';

const WINDOW_MS = 60_000;
const MAX_TRACKED_ADDRESSES = 10_000;

/** Failed authentications per address in fixed one-minute windows; bounded: a full map starts again. */
export class FailedAttempts {
  #windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly max: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Seconds until the address may try again; undefined while it is under the limit. */
  blockedFor(address: string): number | undefined {
    const window = this.#current(address);
    if (!window || window.count < this.max) return undefined;
    return Math.max(1, Math.ceil((window.start + WINDOW_MS - this.clock()) / 1000));
  }

  record(address: string): void {
    const window = this.#current(address);
    if (window) {
      window.count++;
      return;
    }
    if (this.#windows.size >= MAX_TRACKED_ADDRESSES) this.#windows = new Map();
    this.#windows.set(address, { start: this.clock(), count: 1 });
  }

  #current(address: string): { start: number; count: number } | undefined {
    const window = this.#windows.get(address);
    if (window && this.clock() - window.start < WINDOW_MS) return window;
    if (window) this.#windows.delete(address);
    return undefined;
  }
}

/**
 * Applies to every route registered in `scope` after this call. The checks are scope hooks, so
 * they run before the routes' own onRequest hooks, authentication included.
 */
export async function limitRoutes(scope: FastifyInstance, perMinute: number, name: string): Promise<void> {
  await scope.register(rateLimit, {
    global: false,
    max: perMinute,
    timeWindow: WINDOW_MS,
    keyGenerator: (request: FastifyRequest) => {
      const credential = request.headers.authorization;
      return `${name}:${credential ? createHash('sha256').update(credential).digest('base64url') : request.ip}`;
    },
    errorResponseBuilder: (_request, context) => withDetails(new RateLimitedError(context.after), { retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) }),
  });
  const failures = new FailedAttempts(perMinute);
  scope.addHook('onRequest', async (request) => {
    const wait = failures.blockedFor(request.ip);
    if (wait !== undefined) throw withDetails(new RateLimitedError(`${wait} seconds`), { retryAfterSeconds: wait });
  });
  scope.addHook('onRequest', scope.rateLimit());
  scope.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode === 401) failures.record(request.ip);
  });
}
