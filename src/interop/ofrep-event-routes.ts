// OFREP event streams (ADR-0008) over HTTP: the link a bulk answer advertises, and the SSE
// route it points to. The link's credential is checked when the stream opens, and again every
// few seconds while it is open: a stream lives until the client leaves, the server shuts down,
// the API token behind its link is revoked or expires, or its tenant is deleted.

import type { EvaluationContext } from '@openfeature/server-sdk';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { principalKey, type Principal } from '../auth/principal.js';
import { TENANT_CONTEXT_KEY } from '../entitlements/entitle-provider.js';
import { InvalidTokenError, StreamLimitError } from '../errors.js';
import { ErrorBody } from '../http/schemas.js';
import { credentialKey, type EventStreams, type StreamCredential } from './event-streams.js';
import type { StreamGrant, StreamLinks } from './event-stream-links.js';

export interface OfrepEvents {
  readonly links: StreamLinks;
  readonly streams: EventStreams;
  /** Advertised to clients: close the stream after this long in the background. */
  readonly inactivityDelaySec: number;
  /** The bulk answer's ETag for a fingerprint (it includes the link's window). */
  etag(fingerprint: string): string;
  /** Where clients reach this server (ENTITLE_PUBLIC_URL); default: the request's scheme and host. */
  readonly publicUrl: string | undefined;
  /** Of these credentials, the keys that may open or hold streams (tenant there, token usable). */
  stillValid(credentials: readonly StreamCredential[]): Promise<ReadonlySet<string>>;
}

/**
 * The per-user cap's key: the credential behind the link; for a client token (a server-side SDK
 * evaluating for its users) with the user it vouched for, each of its users counted apart.
 */
function userOf(grant: StreamGrant): string {
  return grant.role === 'client' ? `${grant.principal}\u0000${grant.userId}` : grant.principal;
}

export const EVENTS_PATH = '/ofrep/v1/events';

/** The advertised stream for this caller and answer: scoped to the evaluated tenant, never carrying the bearer token. */
export async function streamLinkOf(
  events: OfrepEvents,
  request: FastifyRequest,
  context: EvaluationContext,
  principal: Principal,
  fingerprint: string,
) {
  // The tenant was checked by the evaluation (a member's own; admin and client tokens may name
  // another); a member or admin vouches only for itself, a client token for the user it evaluated.
  const token = await events.links.issue({
    tenantId: context[TENANT_CONTEXT_KEY] as string,
    userId:
      principal.role === 'client' && typeof context.targetingKey === 'string' ? context.targetingKey : principal.userId,
    role: principal.role,
    fingerprint,
    principal: principalKey(principal),
    tokenId: principal.via.kind === 'jwt' ? null : principal.via.tokenId,
  });
  const base = events.publicUrl ?? `${request.protocol}://${request.host}`;
  return {
    type: 'sse' as const,
    url: `${base}${EVENTS_PATH}?token=${token}`,
    inactivityDelaySec: events.inactivityDelaySec,
  };
}

export const ofrepEventRoutes: FastifyPluginAsync<{ events: OfrepEvents }> = async (fastify, { events }) => {
  fastify.get(
    EVENTS_PATH,
    {
      schema: {
        tags: ['ofrep'],
        summary: 'OFREP event stream (server-sent events): refetchEvaluation when the answer changes',
        description:
          'Open the URL a bulk evaluation advertises in eventStreams, as it is. Heartbeat comments keep it open.',
        security: [],
        querystring: Type.Object({
          token: Type.String({
            minLength: 1,
            maxLength: 2048,
            description: 'the short-lived credential from the advertised URL',
          }),
        }),
        response: {
          200: {
            description:
              'server-sent events: `data: {"type":"refetchEvaluation","etag","lastModified"}` when the answer changes, `: heartbeat` comments',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          400: ErrorBody,
          401: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { token } = request.query as { token: string };
      const grant = await events.links.verify(token).catch(() => {
        throw new InvalidTokenError();
      });
      // The credential behind the link must still authenticate, and its tenant still exist.
      const credential = { tenantId: grant.tenantId, tokenId: grant.tokenId };
      if (!(await events.stillValid([credential])).has(credentialKey(credential))) throw new InvalidTokenError();
      const user = userOf(grant);
      const full = events.streams.refusal(grant.tenantId, user);
      if (full) {
        void reply.header('retry-after', '30');
        throw new StreamLimitError(
          full === 'tenant' ? 'for this tenant' : full === 'user' ? 'for this user' : 'on this server',
        );
      }
      reply.hijack();
      const response = reply.raw;
      response.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      response.write('retry: 3000\n: connected\n\n');
      const opened = events.streams.open(
        { tenantId: grant.tenantId, userId: grant.userId, role: grant.role },
        grant.fingerprint,
        response,
        { user, credential },
      );
      if (!opened.ok) {
        response.end();
        return;
      }
      request.raw.socket.setKeepAlive(true);
      response.on('close', opened.close);
    },
  );
};
