// Authentication: `Authorization: Bearer <token>` (an API token or, when configured, a JWT)
// becomes request.principal. Routes opt in with `config: { auth: 'required' | 'admin' | [roles] }`.

import { parse as parseCookies } from 'cookie';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { FastifyPluginAsync, FastifyRequest, onRequestHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { JwtConfig } from '../config.js';
import {
  AdminRequiredError,
  AuthRequiredError,
  CsrfError,
  InvalidTokenError,
  RateLimitedError,
  RoleNotAllowedError,
  withDetails,
} from '../errors.js';
import { checkTenantId } from '../tenants/tenant-operations.js';
import { ROLES, type ApiToken, type Role } from '../store/store.js';
import { hashToken, looksLikeApiToken } from './api-tokens.js';
import { CSRF_HEADER, csrfMatches, SESSION_COOKIE, type ConsoleSession } from './console-sessions.js';
import { FailedLogins } from './failed-logins.js';
import type { Principal } from './principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; null on routes that do not authenticate. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /**
     * 'required': a member or admin credential (a user acting for its tenant); 'admin': an
     * admin credential; a list of roles: exactly those (e.g. the read-only client role for SDK
     * routes); 'optional': no credential is fine (principal null), a bad one is still a 401.
     */
    auth?: 'required' | 'admin' | 'optional' | readonly Role[];
  }
}

export interface AuthPluginOptions {
  /** Looks up an API token by the hash of its secret. */
  readonly findToken: (secretHash: string) => Promise<ApiToken | undefined>;
  readonly jwt?: JwtConfig;
  readonly clock?: () => number;
  /** Failed authentications per client address per minute before failures answer 429 (default 30). */
  readonly maxFailuresPerMinute?: number;
  /**
   * The failed-authentication table, when it is shared with the console's sign-in and the
   * webhooks (one counter per address for all of them); a table of its own otherwise.
   */
  readonly failedLogins?: FailedLogins;
  /**
   * Opens a console session cookie. With it, admin routes also accept the session of an admin
   * token (the cookie, and on writes its CSRF header) when no Authorization header is sent.
   */
  readonly openSession?: (cookie: string) => Promise<ConsoleSession | undefined>;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const BEARER = /^Bearer[ ]+([^\s]+)\s*$/i;

const authPlugin: FastifyPluginAsync<AuthPluginOptions> = async (fastify, options) => {
  if (typeof options.findToken !== 'function') throw new TypeError('options.findToken should be a function');
  const clock = options.clock ?? Date.now;
  const verifyJwt = options.jwt ? jwtVerifier(options.jwt, clock) : undefined;
  const maxFailures = options.maxFailuresPerMinute ?? 30;
  if (!Number.isInteger(maxFailures) || maxFailures < 1)
    throw new TypeError('options.maxFailuresPerMinute should be a positive integer');
  // Keyed on request.ip: the socket address, or the client's behind a trusted proxy (ENTITLE_TRUST_PROXY).
  const failures = options.failedLogins ?? new FailedLogins(maxFailures, clock);

  fastify.decorateRequest('principal', null);

  /** A valid token's principal; InvalidTokenError for an unknown, revoked or expired one. */
  async function tokenPrincipal(secretHash: string): Promise<Principal & { via: { kind: 'token' } }> {
    const token = await options.findToken(secretHash);
    if (!token || token.revokedAt !== null || (token.expiresAt !== null && Date.parse(token.expiresAt) <= clock()))
      throw new InvalidTokenError();
    return {
      tenantId: token.tenantId,
      userId: token.userId,
      role: token.role,
      via: { kind: 'token', tokenId: token.id },
    };
  }

  /** A console session: checked against its token on every request, and its CSRF header on writes. */
  async function sessionPrincipal(request: FastifyRequest, cookie: string): Promise<Principal> {
    const session = await options.openSession?.(cookie);
    if (!session) throw new InvalidTokenError();
    const principal = await tokenPrincipal(session.secretHash);
    if (principal.via.tokenId !== session.tokenId) throw new InvalidTokenError();
    if (!SAFE_METHODS.has(request.method) && !csrfMatches(session, request.headers[CSRF_HEADER])) throw new CsrfError();
    return { ...principal, via: { kind: 'session', tokenId: session.tokenId, session } };
  }

  async function authenticate(request: FastifyRequest, sessions = false): Promise<Principal> {
    const header = request.headers.authorization;
    // Parsed here, only for the admin routes a session may reach: no cookie work on any other request.
    const cookie =
      sessions && options.openSession && request.headers.cookie
        ? parseCookies(request.headers.cookie)[SESSION_COOKIE]
        : undefined;
    if ((header === undefined || header === '') && cookie) return sessionPrincipal(request, cookie);
    if (header === undefined || header === '') throw new AuthRequiredError();
    // Unleash SDKs send their API token without a scheme: a bare Entitle API token is accepted too.
    const credential = BEARER.exec(header)?.[1] ?? (looksLikeApiToken(header.trim()) ? header.trim() : undefined);
    if (credential === undefined) throw new InvalidTokenError();
    if (looksLikeApiToken(credential)) return tokenPrincipal(hashToken(credential));
    if (verifyJwt) return verifyJwt(credential);
    throw new InvalidTokenError();
  }

  /** A hook admitting only `roles` (one per distinct list); `optional`: a request without a credential too. */
  function allow(roles: readonly Role[], { optional = false } = {}): onRequestHookHandler {
    const needs = roles.join(' or ');
    // Console sessions belong to admin tokens and reach the admin-only routes (the admin API).
    const sessions = roles.length === 1 && roles[0] === 'admin';
    return async (request) => {
      if (optional && request.headers.authorization === undefined) return;
      try {
        request.principal = await authenticate(request, sessions);
      } catch (error) {
        if ((error as { statusCode?: unknown }).statusCode !== 401) throw error;
        // Only failures are refused: others' guesses from this address never lock out a valid credential.
        const wait = failures.blockedFor(request.ip);
        if (wait !== undefined) throw withDetails(new RateLimitedError(`${wait} seconds`), { retryAfterSeconds: wait });
        failures.record(request.ip);
        throw error;
      }
      if (roles.includes(request.principal.role)) return;
      throw roles.length === 1 && roles[0] === 'admin'
        ? new AdminRequiredError()
        : new RoleNotAllowedError(request.principal.role, needs);
    };
  }
  const required = allow(['member', 'admin']);
  const admin = allow(['admin']);
  const optional = allow(ROLES, { optional: true });

  fastify.addHook('onRoute', (route) => {
    const mode = route.config?.auth;
    if (mode === undefined) return;
    const valid =
      mode === 'required' ||
      mode === 'admin' ||
      mode === 'optional' ||
      (Array.isArray(mode) && mode.length > 0 && mode.every((role) => ROLES.includes(role)));
    if (!valid)
      throw new TypeError(
        `route ${route.url}: config.auth should be 'required', 'admin', 'optional' or a list of roles (${ROLES.join(', ')})`,
      );
    const hook =
      mode === 'admin'
        ? admin
        : mode === 'required'
          ? required
          : mode === 'optional'
            ? optional
            : allow(mode as readonly Role[]);
    // First in line: every later check (the gate) can rely on request.principal.
    route.onRequest = [
      hook,
      ...(route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]),
    ];
  });
};

function jwtVerifier(config: JwtConfig, clock: () => number): (token: string) => Promise<Principal> {
  const key: Uint8Array | JWTVerifyGetKey = config.secret
    ? new TextEncoder().encode(config.secret)
    : createRemoteJWKSet(new URL(config.jwksUrl as string));
  const algorithms = config.secret ? ['HS256'] : ['RS256', 'ES256', 'PS256', 'EdDSA'];
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as Uint8Array, {
        algorithms,
        ...(config.issuer ? { issuer: config.issuer } : {}),
        ...(config.audience ? { audience: config.audience } : {}),
        // A token without an expiry would be valid forever once leaked.
        ...(config.allowNoExp ? {} : { requiredClaims: ['exp'] }),
        currentDate: new Date(clock()),
      }));
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) throw new InvalidTokenError();
      throw error;
    }
    const tenantId = payload[config.tenantClaim];
    const userId = payload[config.userClaim];
    if (typeof tenantId !== 'string' || typeof userId !== 'string' || userId === '') throw new InvalidTokenError();
    // The claim becomes a tenant id in lookups, responses and audit rows: it must be one.
    try {
      checkTenantId(tenantId);
    } catch {
      throw new InvalidTokenError();
    }
    // The claim may be one value or a list of them (roles: [...]).
    const claimed = payload[config.roleClaim];
    const roles = Array.isArray(claimed) ? claimed : [claimed];
    const role = roles.includes(config.adminRole) ? 'admin' : roles.includes(config.clientRole) ? 'client' : 'member';
    return { tenantId, userId, role, via: { kind: 'jwt', issuer: payload.iss ?? '', subject: payload.sub ?? userId } };
  };
}

export default fp(authPlugin, { fastify: '5.x', name: 'entitle-auth' });
