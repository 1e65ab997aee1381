// OFREP (OpenFeature Remote Evaluation Protocol), server side: apps in any language evaluate
// Entitle's features through an OFREP provider and get exactly the in-process answers, because
// every evaluation goes through the same provider. Shapes and error codes follow the protocol's
// OpenAPI document (open-feature/protocol, service/openapi.yaml).

import { ErrorCode, OpenFeatureError, type EvaluationContext, type ResolutionDetails } from '@openfeature/server-sdk';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyError, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { principalOf, type Principal } from '../auth/principal.js';
import { TENANT_CONTEXT_KEY, type EntitleProvider } from '../entitlements/entitle-provider.js';
import { isClientFacing } from '../errors.js';
import { etagOf, noneMatchHits } from '../http/etag.js';
import { AUTH_ERRORS, FeatureValueSchema, noContent } from '../http/schemas.js';
import type { FeatureValue } from '../policy/types.js';
import type { PolicyWatcher } from '../policy/watch.js';

/** The per-flag error codes OFREP allows (FLAG_NOT_FOUND has its own 404 shape). */
const FAILURE_CODES = ['PARSE_ERROR', 'TARGETING_KEY_MISSING', 'INVALID_CONTEXT', 'GENERAL'] as const;
type FailureCode = (typeof FAILURE_CODES)[number];

/** Operators' notes on an override: for admin callers only, never for the tenant itself. */
const OPERATOR_METADATA = ['overrideReason', 'overrideActor'];

const Key = Type.String({ description: 'a feature key', examples: ['can_use_calendar_sync'] });
const EvaluationRequest = Type.Object(
  {
    context: Type.Optional(
      Type.Object(
        {
          [TENANT_CONTEXT_KEY]: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "defaults to the caller's tenant; only admin and client tokens may name another" })),
          targetingKey: Type.Optional(Type.String({ maxLength: 256, description: "defaults to the caller's user id" })),
        },
        { additionalProperties: true },
      ),
    ),
  },
  { additionalProperties: true, description: 'OFREP evaluationRequest' },
);
const EvaluationSuccess = Type.Object(
  {
    key: Key,
    value: FeatureValueSchema,
    reason: Type.String({ examples: ['TARGETING_MATCH', 'DEFAULT', 'DISABLED', 'STALE'] }),
    variant: Type.Optional(Type.String()),
    metadata: Type.Record(Type.String(), Type.Union([Type.Boolean(), Type.String(), Type.Number()])),
  },
  { description: 'OFREP evaluationSuccess' },
);
const EvaluationFailure = Type.Object(
  { key: Key, errorCode: Type.Enum(FAILURE_CODES), errorDetails: Type.Optional(Type.String()) },
  { description: 'OFREP evaluationFailure' },
);
const FlagNotFound = Type.Object({ key: Key, errorCode: Type.Literal('FLAG_NOT_FOUND'), errorDetails: Type.Optional(Type.String()) }, { description: 'OFREP flagNotFound' });
const BulkFailure = Type.Object({ errorCode: Type.Enum(FAILURE_CODES), errorDetails: Type.Optional(Type.String()) }, { description: 'OFREP bulkEvaluationFailure' });
const GeneralError = Type.Object(
  { errorDetails: Type.String(), errorCode: Type.Optional(Type.Literal('GENERAL')), key: Type.Optional(Key) },
  { description: 'OFREP generalErrorResponse: the server could not evaluate (e.g. the store has been out of reach too long)' },
);
const Forbidden = Type.Object(
  { key: Type.Optional(Key), errorCode: Type.Literal('INVALID_CONTEXT'), errorDetails: Type.String() },
  { description: 'the context names another tenant and the token may only evaluate its own' },
);
const BulkSuccess = Type.Object(
  { flags: Type.Array(Type.Union([EvaluationSuccess, EvaluationFailure])), metadata: Type.Object({ policyVersion: Type.String() }) },
  { description: 'OFREP bulkEvaluationSuccess: every feature of the policy' },
);

type Success = Static<typeof EvaluationSuccess>;
type Failure = Static<typeof EvaluationFailure>;
type Evaluation = { ok: true; body: Success } | { ok: false; status: 404; body: Static<typeof FlagNotFound> } | { ok: false; status: 400 | 500; body: Failure };

/** A request the OFREP way: 400/403 bodies with errorCode and errorDetails. */
class OfrepRequestError extends Error {
  constructor(
    readonly statusCode: 400 | 403,
    readonly errorCode: FailureCode,
    message: string,
  ) {
    super(message);
  }
}

const KEY_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/** What the OFREP routes use: the provider itself, for contexts that may name another tenant. */
export interface OfrepRoutesOptions {
  readonly policy: Pick<PolicyWatcher, 'snapshot'>;
  readonly provider: Pick<EntitleProvider, 'resolveBooleanEvaluation' | 'resolveNumberEvaluation' | 'resolveStringEvaluation'>;
}

export const ofrepRoutes: FastifyPluginAsyncTypebox<OfrepRoutesOptions> = async (fastify, deps) => {
  // OFREP clients expect its error shapes, for malformed bodies and server failures too.
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const key = (request.params as { key?: string } | undefined)?.key;
    const keyed = key ? { key } : {};
    if (error instanceof OfrepRequestError) return reply.status(error.statusCode).send({ ...keyed, errorCode: error.errorCode, errorDetails: error.message });
    if (error.validation) {
      const inContext = error.validationContext === 'body' && error.validation[0]?.instancePath.startsWith('/context');
      return reply.status(400).send({ ...keyed, errorCode: inContext ? 'INVALID_CONTEXT' : 'PARSE_ERROR', errorDetails: `${error.validationContext ?? 'body'}${error.validation[0]?.instancePath.replaceAll('/', '.') ?? ''}: ${error.validation[0]?.message ?? 'is invalid'}` });
    }
    if (error.statusCode === 400 || error.statusCode === 415 || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return reply.status(400).send({ ...keyed, errorCode: 'PARSE_ERROR', errorDetails: error.message });
    }
    const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status >= 500) {
      const ours = isClientFacing(error) && error.code.startsWith('ENT_ERR_');
      if (!ours) request.log.error({ err: error }, 'OFREP request failed');
      return reply.status(ours ? status : 500).send({ ...keyed, errorCode: 'GENERAL', errorDetails: ours ? error.message : 'Internal error' });
    }
    throw error; // the app's handler: 401 from authentication
  });

  /** The evaluation context: the caller's tenant unless an admin or client token names another; the user as targeting key. */
  function contextOf(request: FastifyRequest<{ Body: Static<typeof EvaluationRequest> | undefined }>): EvaluationContext {
    const principal = principalOf(request);
    const given = (request.body?.context ?? {}) as EvaluationContext;
    const tenant = given[TENANT_CONTEXT_KEY] as string | undefined;
    if (tenant !== undefined && tenant !== principal.tenantId && principal.role === 'member') {
      throw new OfrepRequestError(403, 'INVALID_CONTEXT', `context.${TENANT_CONTEXT_KEY} must be your own tenant (only admin and client tokens may evaluate for another tenant)`);
    }
    return { ...given, [TENANT_CONTEXT_KEY]: tenant ?? principal.tenantId, targetingKey: typeof given.targetingKey === 'string' ? given.targetingKey : principal.userId };
  }

  async function evaluate(key: string, context: EvaluationContext, principal: Principal, log: FastifyBaseLogger): Promise<Evaluation> {
    const feature = deps.policy.snapshot.features.get(key);
    if (!feature) return { ok: false, status: 404, body: { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `feature "${key}" is not in the policy` } };
    try {
      const { provider } = deps;
      const resolution: ResolutionDetails<FeatureValue> =
        feature.type === 'boolean'
          ? await provider.resolveBooleanEvaluation(key, false, context)
          : feature.type === 'number'
            ? await provider.resolveNumberEvaluation(key, 0, context)
            : await provider.resolveStringEvaluation(key, '', context);
      const metadata: Record<string, string | number | boolean> = { ...resolution.flagMetadata };
      if (principal.role !== 'admin') for (const field of OPERATOR_METADATA) delete metadata[field];
      return { ok: true, body: { key, value: resolution.value, reason: resolution.reason ?? 'UNKNOWN', ...(resolution.variant ? { variant: resolution.variant } : {}), metadata } };
    } catch (error) {
      const code = error instanceof OpenFeatureError ? error.code : ErrorCode.GENERAL;
      if (code === ErrorCode.FLAG_NOT_FOUND) return { ok: false, status: 404, body: { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: error instanceof Error ? error.message : 'not found' } };
      // The protocol's codes only: anything else (a type mismatch, a provider not ready) is GENERAL, a server-side failure.
      const errorCode: FailureCode = (FAILURE_CODES as readonly string[]).includes(code) ? (code as FailureCode) : 'GENERAL';
      // Our errors say what went wrong; anything else stays in the log.
      if (!(error instanceof OpenFeatureError)) log.error({ err: error, feature: key }, 'OFREP evaluation failed');
      const errorDetails = error instanceof OpenFeatureError ? error.message : 'evaluation failed';
      return { ok: false, status: errorCode === 'GENERAL' ? 500 : 400, body: { key, errorCode, errorDetails } };
    }
  }

  const EVALUATE = ['member', 'admin', 'client'] as const;
  const tags = ['ofrep'];

  fastify.post(
    '/ofrep/v1/evaluate/flags/:key',
    {
      config: { auth: EVALUATE },
      schema: {
        tags,
        summary: 'OFREP: evaluate one feature',
        params: Type.Object({ key: Type.String({ maxLength: 256 }) }),
        body: EvaluationRequest,
        response: { 200: EvaluationSuccess, 400: EvaluationFailure, 401: AUTH_ERRORS[401], 403: Forbidden, 404: FlagNotFound, 500: GeneralError },
      },
    },
    async (request, reply) => {
      const { key } = request.params;
      if (!KEY_PATTERN.test(key)) return reply.status(404).send({ key, errorCode: 'FLAG_NOT_FOUND' as const, errorDetails: 'not a feature key' });
      const result = await evaluate(key, contextOf(request), principalOf(request), request.log);
      return result.ok ? result.body : reply.status(result.status).send(result.body);
    },
  );

  fastify.post(
    '/ofrep/v1/evaluate/flags',
    {
      config: { auth: EVALUATE },
      schema: {
        tags,
        summary: 'OFREP: evaluate every feature (ETag / If-None-Match)',
        headers: Type.Object({ 'if-none-match': Type.Optional(Type.String({ description: 'ETags of earlier answers (weak ones and lists too): 304 when one is current' })) }),
        body: EvaluationRequest,
        response: {
          200: BulkSuccess,
          304: noContent('Not modified: the answer carrying this ETag is still current'),
          400: BulkFailure,
          401: AUTH_ERRORS[401],
          403: Forbidden,
          500: GeneralError,
        },
      },
    },
    async (request, reply) => {
      const context = contextOf(request);
      const principal = principalOf(request);
      const flags: (Success | Failure)[] = [];
      for (const key of deps.policy.snapshot.features.keys()) {
        const result = await evaluate(key, context, principal, request.log);
        // Every key comes from the policy: only a success or a per-flag failure, never "not found".
        if (result.ok || result.status !== 404) flags.push(result.body as Success | Failure);
      }
      const body = { flags, metadata: { policyVersion: deps.policy.snapshot.version } };
      // A hash of the answer itself: it changes exactly when some decision (or its why) changes.
      const etag = etagOf(JSON.stringify(body));
      reply.header('etag', etag);
      if (noneMatchHits(request.headers['if-none-match'], etag)) return reply.status(304).send();
      return body;
    },
  );
};
