// CORS for the app-facing routes only (OFREP with its event stream, /api/entitlements): pages on
// the allow-listed origins (ENTITLE_CORS_ORIGINS) may call them with a bearer token. The admin
// API and the console never answer a cross-origin request: for them, and for every origin off
// the list, no CORS header is sent and a preflight stays a 404.

import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Path prefixes of the routes browser apps on other origins call. */
export const APP_FACING_PREFIXES = ['/ofrep/v1/', '/api/entitlements/', '/api/entitlements?'] as const;

function appFacing(url: string): boolean {
  return APP_FACING_PREFIXES.some((prefix) => url.startsWith(prefix)) || url === '/api/entitlements';
}

export async function registerCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  // No origin allowed: every request would be refused alike, so no hook runs at all.
  if (origins.length === 0) return;
  const allowed: FastifyCorsOptions = {
    origin: [...origins],
    methods: ['GET', 'POST'],
    // Bearer tokens, not cookies: credentials stay off.
    credentials: false,
    allowedHeaders: ['Authorization', 'Content-Type', 'If-None-Match', 'Last-Event-ID'],
    // The OFREP web provider reads the ETag to ask "changed since?" next time.
    exposedHeaders: ['ETag', 'x-request-id', 'Retry-After'],
    maxAge: 600,
  };
  const refused: FastifyCorsOptions = { origin: false };
  const listed = new Set(origins);
  await app.register(cors, {
    delegator: (request: FastifyRequest, callback: (error: Error | null, options: FastifyCorsOptions) => void) => {
      // An origin off the list is refused the same way as every origin on the admin API: its
      // preflight finds no route (404), with no CORS header.
      const origin = request.headers.origin;
      callback(null, appFacing(request.url) && origin !== undefined && listed.has(origin) ? allowed : refused);
    },
  });
}
