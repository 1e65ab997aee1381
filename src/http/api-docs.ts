// The API's docs: the OpenAPI document, built from the routes registered after it, and Swagger UI
// at /docs. The UI (its plugin, @fastify/static and the files it serves) costs ~70 ms of start-up,
// so it is loaded on the first request to /docs: a fastify instance of its own, never listening,
// built once, that /docs requests are injected into. Everything the app adds to a response (the
// request id, x-frame-options for /docs) still comes from the app's own hooks.

import swagger, { type SwaggerOptions } from '@fastify/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const PREFIX = '/docs';

/** Headers of the UI's answers that the app's own reply sets itself. */
const NOT_COPIED = new Set(['connection', 'content-length', 'date', 'keep-alive', 'transfer-encoding']);

export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Entitle',
        description:
          'Feature entitlements for multi-tenant SaaS: policy as data, per-tenant overrides, OFREP and Unleash interop.',
        version: '1.0.0',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API token (entitle tokens create) or a JWT' },
        },
      },
      security: [{ bearer: [] }],
    },
  });

  let ui: Promise<FastifyInstance> | undefined;
  const serve = async (request: FastifyRequest, reply: FastifyReply) => {
    ui ??= swaggerUi(app).catch((error: unknown) => {
      ui = undefined; // the next request tries again
      throw error;
    });
    const answer = await (
      await ui
    ).inject({
      method: request.method === 'HEAD' ? 'HEAD' : 'GET',
      url: request.url,
      headers: pick(request.headers, ['accept', 'accept-encoding', 'if-none-match', 'if-modified-since', 'range']),
    });
    reply.status(answer.statusCode);
    for (const [name, value] of Object.entries(answer.headers))
      if (value !== undefined && !NOT_COPIED.has(name)) reply.header(name, value);
    // A redirect has no body: nothing to send, and no content type to make up for it.
    return answer.rawPayload.length > 0 ? reply.send(answer.rawPayload) : reply.send();
  };
  app.addHook('onClose', async () => {
    const built = await ui?.catch(() => undefined);
    await built?.close();
  });
  app.get(PREFIX, { schema: { hide: true } }, serve);
  app.get(`${PREFIX}/*`, { schema: { hide: true } }, serve);
}

/** Swagger UI over the app's document (complete by the first request: the app is ready then). */
async function swaggerUi(app: FastifyInstance): Promise<FastifyInstance> {
  const [{ default: Fastify }, { default: ui }] = await Promise.all([import('fastify'), import('@fastify/swagger-ui')]);
  const docs = Fastify({ logger: false });
  // The app's document as it is (its typings say OpenAPI 3.1, the static mode's say 3.0: the same JSON).
  const served = { mode: 'static', specification: { document: app.swagger() } } as unknown as SwaggerOptions;
  await docs.register(swagger, served);
  await docs.register(ui, {
    routePrefix: PREFIX,
    // Swagger UI's own policy (hashes of its inline scripts), framed by no one, and usable over plain http on localhost.
    staticCSP: true,
    transformStaticCSP: (header) =>
      header.replace("frame-ancestors 'self'", "frame-ancestors 'none'").replace(/\s*upgrade-insecure-requests;/, ''),
  });
  await docs.ready();
  return docs;
}

function pick(headers: FastifyRequest['headers'], names: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) {
    const value = headers[name];
    if (typeof value === 'string') picked[name] = value;
  }
  return picked;
}
