// One renderer for every error: our ENT_ERR_* errors and fastify's own client errors become
// `{ error, code, …details }` with their status; anything else is a 500 that says nothing of
// its cause (the log has it).

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { EntitleError } from '../errors.js';

const UNAUTHORIZED_CHALLENGE = 'Bearer realm="entitle"';

export function errorHandler(
  error: FastifyError & EntitleError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const status =
    typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  if (status >= 500 && !error.code?.startsWith('ENT_ERR_')) {
    request.log.error({ err: error }, 'request failed');
    return reply.status(500).send({ error: 'Internal error', code: 'ENT_ERR_INTERNAL', requestId: request.id });
  }
  if (status >= 500) request.log.warn({ err: error, cause: (error as { cause?: unknown }).cause }, error.message);
  if (status === 401) {
    reply.header(
      'www-authenticate',
      error.code === 'ENT_ERR_INVALID_TOKEN'
        ? `${UNAUTHORIZED_CHALLENGE}, error="invalid_token"`
        : UNAUTHORIZED_CHALLENGE,
    );
  }
  if (error.validation) {
    return reply.status(400).send({ error: validationMessage(error), code: 'ENT_ERR_VALIDATION' });
  }
  const retryAfter = error.details?.retryAfterSeconds;
  if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
  return reply
    .status(status)
    .send({ error: error.message, code: error.code ?? 'ENT_ERR_REQUEST', ...(error.details ?? {}) });
}

/** "body.purpose: must be string" — names the field, the way people read it. */
function validationMessage(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return error.message;
  const where = error.validationContext ?? 'body';
  const params = first.params as Record<string, unknown>;
  const path = [where, ...first.instancePath.split('/').filter(Boolean)];
  if (first.keyword === 'required' && typeof params.missingProperty === 'string') path.push(params.missingProperty);
  if (first.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    return `${[...path, params.additionalProperty].join('.')}: unknown field`;
  }
  const message =
    first.keyword === 'required'
      ? 'is required'
      : first.keyword === 'enum' && Array.isArray(params.allowedValues)
        ? `must be one of ${params.allowedValues.map(String).join(', ')}`
        : (first.message ?? 'is invalid');
  return `${path.join('.')}: ${message}`;
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply
    .status(404)
    .send({ error: `Route ${request.method} ${request.url.split('?')[0]} not found`, code: 'ENT_ERR_NOT_FOUND' });
}
