// One access-log line per request, written when the response is sent: method, route (the
// pattern, never the raw URL: query strings carry OAuth codes), status, milliseconds, tenant and
// request id (pino's reqId binding). Replaces fastify's two lines per request ("incoming
// request", "request completed") and their request/response serialization, which cost a
// measurable share of a request as shipped.

import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * The access line goes through a child of the server's logger without redaction: its fields are
 * fixed and hold no secret by construction (the route pattern, never the URL), and pino's
 * wildcard redaction walked every field of every line (a measurable share of a request as
 * shipped). Lines with an error keep the redacting request logger.
 */
const accessLoggers = new WeakMap<FastifyBaseLogger, FastifyBaseLogger>();
function accessLoggerOf(server: FastifyBaseLogger): FastifyBaseLogger {
  let logger = accessLoggers.get(server);
  if (!logger) {
    logger = server.child({}, { redact: [] });
    accessLoggers.set(server, logger);
  }
  return logger;
}

export class RequestLogController extends LogController {
  /** Nothing on arrival: the line written on completion says everything. */
  override incomingRequest(): void {}

  /** The request line covers a 404 too. */
  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? pathOf(request.url),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      tenant: request.principal?.tenantId ?? null,
    };
    // The request logger binds reqId; the access logger is the server's, so the line carries it.
    if (error) request.log.error({ ...line, err: error }, 'request failed');
    else accessLoggerOf(request.server.log).info({ reqId: request.id, ...line }, 'request');
  }
}

/** The path without its query string (a request that matched no route has no pattern). */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
