// The operator console at /console: a static page (built by `npm run build` into dist/console-ui)
// that uses the admin API with a session cookie, and the session routes that exchange an admin
// token for that cookie. Every console response forbids inline script and framing.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import cookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { parse as parseCookie } from 'cookie';
import { Type } from 'typebox';
import { hashToken, looksLikeApiToken } from '../auth/api-tokens.js';
import type { FailedLogins } from '../auth/failed-logins.js';
import { CSRF_HEADER, SESSION_COOKIE, type ConsoleSession, type ConsoleSessions } from '../auth/console-sessions.js';
import { actorOf, principalOf, type Principal } from '../auth/principal.js';
import { AdminRequiredError, InvalidTokenError, RateLimitedError, withDetails } from '../errors.js';
import { ErrorBody } from '../http/schemas.js';
import type { ApiToken, AuditRepository } from '../store/store.js';

export interface ConsoleRoutesOptions {
  readonly sessions: ConsoleSessions;
  readonly findToken: (secretHash: string) => Promise<ApiToken | undefined>;
  readonly audit: Pick<AuditRepository, 'append'>;
  readonly clock: () => number;
  /** The built console (index.html and assets/). */
  readonly assetsDirectory: string;
  /**
   * The failed-authentication table shared with the API (one counter per client address): failed
   * sign-ins answer 429 once the address is over its limit (valid tokens never do).
   */
  readonly failedLogins: FailedLogins;
}

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SessionBody = Type.Object({
  actor: Type.String(),
  tokenId: Type.String(),
  csrfToken: Type.String({ description: `send it as ${CSRF_HEADER} on every write` }),
  expiresAt: Type.String({ description: 'ISO 8601' }),
});

export const consoleRoutes: FastifyPluginAsync<ConsoleRoutesOptions> = async (fastify, options) => {
  if (!existsSync(join(options.assetsDirectory, 'index.html'))) {
    fastify.log.warn(
      { directory: options.assetsDirectory },
      'the console is not built (npm run build): /console answers 503',
    );
  }
  fastify.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
  });

  // Setting and clearing the session cookie happens here only: the plugin's per-request hook
  // stays inside this scope (the auth plugin reads the cookie itself on admin routes).
  await fastify.register(cookie);
  await fastify.register(fastifyStatic, {
    root: join(options.assetsDirectory, 'assets'),
    prefix: '/console/assets/',
    // File names carry their content hash: a new build is a new URL.
    immutable: true,
    maxAge: '365d',
    index: false,
  });

  const page = async (_request: FastifyRequest, reply: FastifyReply) => {
    if (!existsSync(join(options.assetsDirectory, 'index.html')))
      return reply.status(503).type('text/plain').send('The console is not built: run npm run build');
    // Revalidated on every load (a new build is seen at once); the plugin's year-long immutable
    // header is for the hashed assets only.
    return reply
      .header('cache-control', 'no-cache')
      .sendFile('index.html', options.assetsDirectory, { cacheControl: false });
  };
  fastify.get('/console', { schema: { hide: true } }, page);

  // Secure when the browser talks https, here or to a proxy in front (the header can only add Secure, never remove it).
  const secure = (request: FastifyRequest) =>
    request.protocol === 'https' || String(request.headers['x-forwarded-proto'] ?? '').startsWith('https');
  const cookieOptions = (request: FastifyRequest) => ({
    path: '/',
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: secure(request),
  });
  const present = (principal: Principal, session: ConsoleSession) => ({
    actor: actorOf(principal),
    tokenId: session.tokenId,
    csrfToken: session.csrf,
    expiresAt: new Date(session.expiresAt).toISOString(),
  });
  const tags = ['console'];

  // Sign-in guesses count like any failed authentication: per client address, in the API's table,
  // and only failures are refused. A valid token's sign-ins spend its admin budget (rateFamily).
  const failures = options.failedLogins;
  const signingIn = new WeakMap<FastifyRequest, { record: ApiToken; secretHash: string }>();
  await fastify.register(async (scope) => {
    scope.post(
      '/console/session',
      {
        config: { rateFamily: 'admin' },
        schema: {
          tags,
          summary: 'Sign in to the console: exchange an admin API token for a session cookie',
          security: [],
          body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false }),
          response: { 201: SessionBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
        },
        // Before the rate limit's preHandler: the token in the body names the principal it counts.
        preHandler: async (request) => {
          const { token } = request.body as { token: string };
          const secretHash = looksLikeApiToken(token) ? hashToken(token) : undefined;
          const record = secretHash === undefined ? undefined : await options.findToken(secretHash);
          if (
            secretHash === undefined ||
            !record ||
            record.revokedAt !== null ||
            (record.expiresAt !== null && Date.parse(record.expiresAt) <= options.clock())
          ) {
            const wait = failures.blockedFor(request.ip);
            if (wait !== undefined)
              throw withDetails(new RateLimitedError(`${wait} seconds`), { retryAfterSeconds: wait });
            failures.record(request.ip);
            throw new InvalidTokenError();
          }
          request.principal = {
            tenantId: record.tenantId,
            userId: record.userId,
            role: record.role,
            via: { kind: 'token', tokenId: record.id },
          };
          signingIn.set(request, { record, secretHash });
        },
      },
      async (request, reply) => {
        const signIn = signingIn.get(request);
        if (!signIn) throw new InvalidTokenError();
        const { record, secretHash } = signIn;
        if (record.role !== 'admin') throw new AdminRequiredError();
        const { session, cookie } = await options.sessions.create(record.id, secretHash);
        // A session never outlives its token.
        const expiresAt =
          record.expiresAt === null ? session.expiresAt : Math.min(session.expiresAt, Date.parse(record.expiresAt));
        const principal: Principal = {
          tenantId: record.tenantId,
          userId: record.userId,
          role: record.role,
          via: { kind: 'session', tokenId: record.id, session },
        };
        await options.audit.append({
          actor: actorOf(principal),
          tenantId: null,
          action: 'console.sign_in',
          target: `token:${record.id}`,
          outcome: 'success',
          details: { requestId: request.id },
        });
        void reply.setCookie(SESSION_COOKIE, cookie, { ...cookieOptions(request), expires: new Date(expiresAt) });
        return reply.status(201).send(present(principal, { ...session, expiresAt }));
      },
    );
  });

  await fastify.register(async (scope) => {
    // A page opened with no session (no cookie, no token) is simply signed out: 204, not a 401 that
    // the browser logs as an error on every fresh load. A cookie that no longer opens a session
    // still gets the 401 ("your session has ended").
    scope.addHook('onRequest', async (request, reply) => {
      if (request.method !== 'GET' || request.headers.authorization !== undefined) return;
      const cookies = request.headers.cookie ? parseCookie(request.headers.cookie) : {};
      if (cookies[SESSION_COOKIE] === undefined) return reply.status(204).send();
    });
    scope.get(
      '/console/session',
      {
        config: { auth: 'admin' },
        schema: {
          tags,
          summary: 'The current console session and its CSRF token (204 when the browser holds none)',
          response: { 200: SessionBody, 204: Type.Null(), 401: ErrorBody, 403: ErrorBody },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        if (principal.via.kind !== 'session') throw new InvalidTokenError();
        return present(principal, principal.via.session);
      },
    );
  });

  fastify.delete(
    '/console/session',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        summary: 'Sign out: the session ends and its cookie is cleared',
        response: { 204: Type.Null(), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      if (principal.via.kind === 'session') options.sessions.end(principal.via.session);
      void reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
      return reply.status(204).send();
    },
  );
};
