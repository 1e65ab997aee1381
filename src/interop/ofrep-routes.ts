// OFREP (OpenFeature Remote Evaluation Protocol), server side: apps in any language evaluate
// Entitle's features through an OFREP provider and get exactly the in-process answers, because
// every evaluation goes through the same provider.

import { createHash } from 'node:crypto';
import { ErrorCode, OpenFeatureError, type EvaluationContext, type ResolutionDetails } from '@openfeature/server-sdk';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { TENANT_CONTEXT_KEY } from '../entitlements/entitle-provider.js';
import type { FeatureValue } from '../policy/types.js';
import type { EntitleServices } from '../services.js';

type Success = { key: string; value: FeatureValue; reason: string; variant?: string; metadata: Record<string, unknown> };
type Failure = { key: string; errorCode: string; errorDetails: string };

/** A request the OFREP way: 400/403 bodies with errorCode and errorDetails. */
class OfrepRequestError extends Error {
  constructor(
    readonly statusCode: 400 | 403,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

const KEY_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

export const ofrepRoutes: FastifyPluginAsync<{ services: EntitleServices }> = async (fastify, { services }) => {
  // OFREP clients expect its error shape for malformed bodies too, not our general one.
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const key = (request.params as { key?: string } | undefined)?.key;
    if (error instanceof OfrepRequestError) return reply.status(error.statusCode).send({ ...(key ? { key } : {}), errorCode: error.errorCode, errorDetails: error.message });
    if (error.statusCode === 400 || error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return reply.status(400).send({ ...(key ? { key } : {}), errorCode: 'PARSE_ERROR', errorDetails: error.message });
    }
    throw error; // the app's handler: 401/403 from auth, 500s
  });

  /** The evaluation context: the caller's tenant unless an admin names another; the user as targeting key. */
  function contextOf(request: FastifyRequest): EvaluationContext {
    const principal = request.principal as Principal;
    const body = request.body;
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) throw new OfrepRequestError(400, 'PARSE_ERROR', 'the body must be a JSON object');
    const context = (body as { context?: unknown } | undefined)?.context ?? {};
    if (typeof context !== 'object' || context === null || Array.isArray(context)) throw new OfrepRequestError(400, 'INVALID_CONTEXT', 'context must be a JSON object');
    const given = context as EvaluationContext;
    const tenant = given[TENANT_CONTEXT_KEY];
    if (tenant !== undefined && typeof tenant !== 'string') throw new OfrepRequestError(400, 'INVALID_CONTEXT', `context.${TENANT_CONTEXT_KEY} must be a string`);
    if (tenant !== undefined && tenant !== principal.tenantId && principal.role !== 'admin') {
      throw new OfrepRequestError(403, 'INVALID_CONTEXT', `context.${TENANT_CONTEXT_KEY} must be your own tenant (only admin tokens may evaluate for another tenant)`);
    }
    return { ...given, [TENANT_CONTEXT_KEY]: tenant ?? principal.tenantId, targetingKey: typeof given.targetingKey === 'string' ? given.targetingKey : principal.userId };
  }

  async function evaluate(key: string, context: EvaluationContext): Promise<{ ok: true; body: Success } | { ok: false; status: number; body: Failure }> {
    const feature = services.policy.snapshot.features.get(key);
    if (!feature) return { ok: false, status: 404, body: { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `feature "${key}" is not in the policy` } };
    try {
      const { provider } = services;
      const resolution: ResolutionDetails<FeatureValue> =
        feature.type === 'boolean'
          ? await provider.resolveBooleanEvaluation(key, false, context)
          : feature.type === 'number'
            ? await provider.resolveNumberEvaluation(key, 0, context)
            : await provider.resolveStringEvaluation(key, '', context);
      return {
        ok: true,
        body: { key, value: resolution.value, reason: resolution.reason ?? 'UNKNOWN', ...(resolution.variant ? { variant: resolution.variant } : {}), metadata: { ...resolution.flagMetadata } },
      };
    } catch (error) {
      const code = error instanceof OpenFeatureError ? error.code : ErrorCode.GENERAL;
      const status = code === ErrorCode.FLAG_NOT_FOUND ? 404 : code === ErrorCode.GENERAL ? 500 : 400;
      return { ok: false, status, body: { key, errorCode: code, errorDetails: error instanceof Error ? error.message : 'evaluation failed' } };
    }
  }

  fastify.post<{ Params: { key: string } }>(
    '/ofrep/v1/evaluate/flags/:key',
    { config: { auth: 'required' }, schema: { tags: ['ofrep'], summary: 'OFREP: evaluate one feature', params: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] } } },
    async (request, reply) => {
      const { key } = request.params;
      if (!KEY_PATTERN.test(key)) return reply.status(404).send({ key, errorCode: 'FLAG_NOT_FOUND', errorDetails: 'not a feature key' });
      const result = await evaluate(key, contextOf(request));
      return result.ok ? result.body : reply.status(result.status).send(result.body);
    },
  );

  fastify.post(
    '/ofrep/v1/evaluate/flags',
    { config: { auth: 'required' }, schema: { tags: ['ofrep'], summary: 'OFREP: evaluate every feature (ETag / If-None-Match)' } },
    async (request, reply: FastifyReply) => {
      const context = contextOf(request);
      const flags: (Success | Failure)[] = [];
      for (const key of services.policy.snapshot.features.keys()) {
        const result = await evaluate(key, context);
        flags.push(result.body);
      }
      const body = { flags, metadata: { policyVersion: services.policy.snapshot.version } };
      // A hash of the answer itself: it changes exactly when some decision (or its why) changes.
      const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
      reply.header('etag', etag);
      if (request.headers['if-none-match'] === etag) return reply.status(304).send();
      return body;
    },
  );
};
