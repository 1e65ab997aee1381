// API tokens, audit verification and key rotation for operators: what `entitle tokens`,
// `entitle audit verify` and `entitle keys rotate` do, over HTTP.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { verifyAuditLog } from '../audit/audit-archive.js';
import { parseAnchor } from '../audit/audit-chain.js';
import { issueApiToken } from '../auth/api-tokens.js';
import { actorOf, principalOf, type Principal } from '../auth/principal.js';
import { InvalidInputError, TenantNotFoundError } from '../errors.js';
import { rotateSecrets } from '../secrets/rotate-secrets.js';
import { ROLES, type EntitleStore } from '../store/store.js';
import { ADMIN, ErrorBody, LIMITED_ERRORS, TenantId } from './admin-schemas.js';
import type { TokenCipher } from '../secrets/token-crypto.js';

const TokenBody = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  userId: Type.String(),
  role: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
});

/** What the token, audit-verification and key-rotation routes use. */
export interface TokenRoutesOptions {
  readonly store: EntitleStore;
  readonly cipher: TokenCipher;
  readonly clock: () => number;
}

export const tokenRoutes: FastifyPluginAsyncTypebox<TokenRoutesOptions> = async (fastify, deps) => {
  const { store } = deps;
  const context = (request: { principal: Principal | null; id: string }) => ({
    actor: actorOf(principalOf(request)),
    requestId: request.id,
  });

  fastify.post(
    '/tokens',
    {
      config: ADMIN,
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token; the secret is in this answer only',
        body: Type.Object(
          {
            tenantId: TenantId,
            userId: Type.String({ minLength: 1, maxLength: 128 }),
            role: Type.Optional(
              Type.Enum(ROLES, {
                description:
                  'member: its own tenant; admin: the admin API; client: read-only decisions for any tenant (Unleash SDKs, OFREP)',
                default: 'member',
              }),
            ),
            name: Type.Optional(Type.String({ maxLength: 200 })),
            expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
        response: {
          ...LIMITED_ERRORS,
          201: Type.Object({ token: Type.String(), record: TokenBody }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { tenantId, userId, role = 'member', name, expiresAt } = request.body;
      if (!(await store.tenants.get(tenantId))) throw new TenantNotFoundError(tenantId);
      if (expiresAt !== undefined && Date.parse(expiresAt) <= deps.clock())
        throw new InvalidInputError('expiresAt: must be in the future');
      const issued = await issueApiToken(
        store,
        {
          tenantId,
          userId,
          role,
          ...(name ? { name } : {}),
          expiresAt: expiresAt ? new Date(expiresAt).toISOString() : null,
        },
        context(request),
      );
      return reply.status(201).header('cache-control', 'no-store').send({ token: issued.token, record: issued.record });
    },
  );

  fastify.get(
    '/tokens',
    {
      config: ADMIN,
      schema: {
        tags: ['tokens'],
        summary: 'List tokens (never their secrets)',
        querystring: Type.Object({ tenant: Type.Optional(TenantId) }, { additionalProperties: false }),
        response: { ...LIMITED_ERRORS, 200: Type.Object({ items: Type.Array(TokenBody) }), 400: ErrorBody },
      },
    },
    async (request) => ({
      items: [...(await store.tokens.list(request.query.tenant ? { tenantId: request.query.tenant } : {}))],
    }),
  );

  fastify.delete(
    '/tokens/:id',
    {
      config: ADMIN,
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token: it stops working on the next request',
        params: Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{12}$' }) }),
        response: { ...LIMITED_ERRORS, 200: TokenBody, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => store.tokens.revoke(request.params.id, context(request)),
  );

  fastify.get(
    '/audit/verify',
    {
      config: ADMIN,
      schema: {
        tags: ['audit'],
        summary: 'Check the audit hash chain',
        description:
          'With anchor=seq:hash (a head printed by an earlier check, kept elsewhere) it also detects rows removed from the end.',
        querystring: Type.Object(
          { anchor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}:[0-9a-f]{64}$' })) },
          { additionalProperties: false },
        ),
        response: {
          ...LIMITED_ERRORS,
          200: Type.Object({
            ok: Type.Boolean(),
            checked: Type.Integer(),
            head: Type.Optional(
              Type.Object(
                { seq: Type.Integer(), hash: Type.String() },
                { description: 'the last row checked: keep it outside the database as the next anchor' },
              ),
            ),
            firstBroken: Type.Optional(Type.Object({ seq: Type.Integer(), problem: Type.String() })),
          }),
          400: ErrorBody,
        },
      },
    },
    async (request) => {
      return verifyAuditLog(store.audit, request.query.anchor ? parseAnchor(request.query.anchor) : undefined);
    },
  );

  fastify.post(
    '/keys/rotate',
    {
      config: ADMIN,
      schema: {
        tags: ['keys'],
        summary: 'Re-encrypt every stored OAuth token and PKCE verifier under the active key',
        response: {
          ...LIMITED_ERRORS,
          200: Type.Object({
            reencrypted: Type.Integer({ description: 'how many secrets were re-encrypted' }),
            activeKeyId: Type.String(),
          }),
        },
      },
    },
    async (request) => ({
      reencrypted: await rotateSecrets(store, deps.cipher, context(request)),
      activeKeyId: deps.cipher.activeKeyId,
    }),
  );
};
