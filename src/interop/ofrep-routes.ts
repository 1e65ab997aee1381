// OFREP (OpenFeature Remote Evaluation Protocol), server side: apps in any language evaluate
// Entitle's features through an OFREP provider and get exactly the in-process answers, because
// every evaluation goes through the same provider. Shapes and error codes follow the protocol's
// OpenAPI document (open-feature/protocol, service/openapi.yaml).

import type { EvaluationContext } from '@openfeature/server-sdk';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { principalOf } from '../auth/principal.js';
import { TENANT_CONTEXT_KEY, type EntitleProvider } from '../entitlements/entitle-provider.js';
import { isClientFacing } from '../errors.js';
import { noneMatchHits } from '../http/etag.js';
import { AUTH_ERRORS, FeatureValueSchema, noContent } from '../http/schemas.js';
import type { PolicyWatcher } from '../policy/watch.js';
import { type OfrepEvents, streamLinkOf } from './ofrep-event-routes.js';
import { BulkAnswers, type DecisionGeneration } from './ofrep-bulk-sets.js';
import { evaluate, evaluateAll, FAILURE_CODES, type FailureCode } from './ofrep-evaluation.js';

const Key = Type.String({ description: 'a feature key', examples: ['can_use_calendar_sync'] });
const EvaluationRequest = Type.Object(
  {
    context: Type.Optional(
      Type.Object(
        {
          [TENANT_CONTEXT_KEY]: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 64,
              description: "defaults to the caller's tenant; only admin and client tokens may name another",
            }),
          ),
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
const FlagNotFound = Type.Object(
  { key: Key, errorCode: Type.Literal('FLAG_NOT_FOUND'), errorDetails: Type.Optional(Type.String()) },
  { description: 'OFREP flagNotFound' },
);
const BulkFailure = Type.Object(
  { errorCode: Type.Enum(FAILURE_CODES), errorDetails: Type.Optional(Type.String()) },
  { description: 'OFREP bulkEvaluationFailure' },
);
const GeneralError = Type.Object(
  { errorDetails: Type.String(), errorCode: Type.Optional(Type.Literal('GENERAL')), key: Type.Optional(Key) },
  {
    description:
      'OFREP generalErrorResponse: the server could not evaluate (e.g. the store has been out of reach too long)',
  },
);
const Forbidden = Type.Object(
  { key: Type.Optional(Key), errorCode: Type.Literal('INVALID_CONTEXT'), errorDetails: Type.String() },
  { description: 'the context names another tenant and the token may only evaluate its own' },
);
const EventStream = Type.Object(
  {
    type: Type.Literal('sse'),
    url: Type.String({
      description:
        "the stream, with a short-lived credential for the caller's tenant in its query: open it as it is (EventSource)",
    }),
    inactivityDelaySec: Type.Integer({
      description: 'close the stream after this long in the background; fetch again on return',
    }),
  },
  { description: 'OFREP ADR-0008: a stream that sends refetchEvaluation when this answer changes' },
);
const BulkSuccess = Type.Object(
  {
    flags: Type.Array(Type.Union([EvaluationSuccess, EvaluationFailure])),
    metadata: Type.Object({ policyVersion: Type.String() }),
    eventStreams: Type.Optional(Type.Array(EventStream)),
  },
  { description: 'OFREP bulkEvaluationSuccess: every feature of the policy' },
);

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
  readonly provider: Pick<
    EntitleProvider,
    'resolveBooleanEvaluation' | 'resolveNumberEvaluation' | 'resolveStringEvaluation'
  >;
  /** Event streams (ADR-0008): advertised in bulk answers when given. */
  readonly events?: OfrepEvents;
  /** The gate's decision cache: given, bulk answers are kept per caller while they are exact. */
  readonly decisions?: DecisionGeneration;
}

export const ofrepRoutes: FastifyPluginAsyncTypebox<OfrepRoutesOptions> = async (fastify, deps) => {
  const { events } = deps;
  const bulk = deps.decisions ? new BulkAnswers(deps, deps.decisions) : undefined;
  // OFREP clients expect its error shapes, for malformed bodies and server failures too.
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const key = (request.params as { key?: string } | undefined)?.key;
    const keyed = key ? { key } : {};
    if (error instanceof OfrepRequestError)
      return reply.status(error.statusCode).send({ ...keyed, errorCode: error.errorCode, errorDetails: error.message });
    if (error.validation) {
      const inContext = error.validationContext === 'body' && error.validation[0]?.instancePath.startsWith('/context');
      return reply.status(400).send({
        ...keyed,
        errorCode: inContext ? 'INVALID_CONTEXT' : 'PARSE_ERROR',
        errorDetails: `${error.validationContext ?? 'body'}${error.validation[0]?.instancePath.replaceAll('/', '.') ?? ''}: ${error.validation[0]?.message ?? 'is invalid'}`,
      });
    }
    if (error.statusCode === 400 || error.statusCode === 415 || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return reply.status(400).send({ ...keyed, errorCode: 'PARSE_ERROR', errorDetails: error.message });
    }
    const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status >= 500) {
      const ours = isClientFacing(error) && error.code.startsWith('ENT_ERR_');
      if (!ours) request.log.error({ err: error }, 'OFREP request failed');
      return reply
        .status(ours ? status : 500)
        .send({ ...keyed, errorCode: 'GENERAL', errorDetails: ours ? error.message : 'Internal error' });
    }
    throw error; // the app's handler: 401 from authentication
  });

  /** The evaluation context: the caller's tenant unless an admin or client token names another; the user as targeting key. */
  function contextOf(
    request: FastifyRequest<{ Body: Static<typeof EvaluationRequest> | undefined }>,
  ): EvaluationContext {
    const principal = principalOf(request);
    const given = (request.body?.context ?? {}) as EvaluationContext;
    const tenant = given[TENANT_CONTEXT_KEY] as string | undefined;
    if (tenant !== undefined && tenant !== principal.tenantId && principal.role === 'member') {
      throw new OfrepRequestError(
        403,
        'INVALID_CONTEXT',
        `context.${TENANT_CONTEXT_KEY} must be your own tenant (only admin and client tokens may evaluate for another tenant)`,
      );
    }
    return {
      ...given,
      [TENANT_CONTEXT_KEY]: tenant ?? principal.tenantId,
      targetingKey: typeof given.targetingKey === 'string' ? given.targetingKey : principal.userId,
    };
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
        response: {
          200: EvaluationSuccess,
          400: EvaluationFailure,
          401: AUTH_ERRORS[401],
          403: Forbidden,
          404: FlagNotFound,
          500: GeneralError,
        },
      },
    },
    async (request, reply) => {
      const { key } = request.params;
      if (!KEY_PATTERN.test(key))
        return reply.status(404).send({ key, errorCode: 'FLAG_NOT_FOUND' as const, errorDetails: 'not a feature key' });
      const result = await evaluate(deps, key, contextOf(request), principalOf(request), request.log);
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
        querystring: Type.Object(
          {
            flagConfigEtag: Type.Optional(
              Type.String({
                maxLength: 256,
                description: 'sent by providers on a re-fetch an event triggered (ADR-0008); informational',
              }),
            ),
            flagConfigLastModified: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: true },
        ),
        headers: Type.Object({
          'if-none-match': Type.Optional(
            Type.String({ description: 'ETags of earlier answers (weak ones and lists too): 304 when one is current' }),
          ),
        }),
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
      const answer = bulk
        ? await bulk.answer(context, principal, request.log)
        : await evaluateAll(deps, context, principal, request.log);
      // The answer's hash, and the stream link's window when there is a link: an answer cached
      // with a link that has since expired is not "still current".
      const etag = events ? events.etag(answer.fingerprint) : `"${answer.fingerprint}"`;
      reply.header('etag', etag);
      if (noneMatchHits(request.headers['if-none-match'], etag)) return reply.status(304).send();
      const streams = events
        ? `,"eventStreams":${JSON.stringify([await streamLinkOf(events, request, context, principal, answer.fingerprint)])}`
        : '';
      // The answer is JSON already (its fingerprint hashes it): sent as it is, not serialized again.
      const json = `${answer.json.slice(0, -1)}${streams}}`;
      return reply.type('application/json; charset=utf-8').send(json as unknown as Static<typeof BulkSuccess>);
    },
  );
};
