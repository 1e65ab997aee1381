// One access-log line per request, written when the response is sent: method, route (the
// pattern, never the raw URL: query strings carry OAuth codes), status, milliseconds, tenant and
// request id (pino's reqId binding). Replaces fastify's two lines per request ("incoming
// request", "request completed") and their request/response serialization, which cost a
// measurable share of a request as shipped.

import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import pino from 'pino';

/** pino's info level, as it writes it. */
const INFO = 30;

/** pino's loggers answer this. */
interface LevelAware {
  isLevelEnabled?(level: string): boolean;
}

/** Where a pino logger writes, and the bindings it puts on every line (`,"pid":…,"hostname":…`). */
interface AccessWriter {
  readonly logger: FastifyBaseLogger;
  readonly stream: { write(line: string): unknown } | undefined;
  readonly bindings: string;
}

/**
 * The access line is serialized here and handed to the server logger's destination, as pino
 * would write it (level, time, pid, hostname, then the fields, then msg): pino's general path
 * (its serializers looked up per key, the wildcard redaction walking every field) was most of
 * the line's cost. Redaction has nothing to do on this line: its fields are fixed and hold no
 * secret by construction (the route pattern or the path without its query, never a header), and
 * each string is JSON-escaped. A logger that is not pino gets the same fields through `info`.
 */
const writers = new WeakMap<FastifyBaseLogger, AccessWriter>();
function writerOf(logger: FastifyBaseLogger): AccessWriter {
  let writer = writers.get(logger);
  if (!writer) {
    const fields = logger as unknown as Record<symbol, unknown>;
    const stream = fields[pino.symbols.streamSym] as AccessWriter['stream'];
    const bindings = fields[pino.symbols.chindingsSym];
    writer =
      typeof stream?.write === 'function' && typeof bindings === 'string'
        ? { logger, stream, bindings }
        : { logger, stream: undefined, bindings: '' };
    writers.set(logger, writer);
  }
  return writer;
}

export class RequestLogController extends LogController {
  /** Nothing on arrival: the line written on completion says everything. */
  override incomingRequest(): void {}

  /** The request line covers a 404 too. */
  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeOptions.url ?? pathOf(request.url);
    const ms = Math.round(reply.elapsedTime * 10) / 10;
    const tenant = request.principal?.tenantId ?? null;
    if (error) {
      // The request logger binds reqId and redacts: an error's fields are not fixed.
      request.log.error(
        { method: request.method, route, status: reply.statusCode, ms, tenant, err: error },
        'request failed',
      );
      return;
    }
    const { logger, stream, bindings } = writerOf(request.server.log);
    if ((logger as FastifyBaseLogger & LevelAware).isLevelEnabled?.('info') === false) return;
    if (stream === undefined) {
      logger.info(
        { reqId: request.id, method: request.method, route, status: reply.statusCode, ms, tenant },
        'request',
      );
      return;
    }
    stream.write(
      `{"level":${INFO},"time":${Date.now()}${bindings},"reqId":${JSON.stringify(request.id)},"method":${JSON.stringify(request.method)},"route":${JSON.stringify(route)},"status":${reply.statusCode},"ms":${ms},"tenant":${tenant === null ? 'null' : JSON.stringify(tenant)},"msg":"request"}\n`,
    );
  }
}

/** The path without its query string (a request that matched no route has no pattern). */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
