// The server under test for bench/streams.ts, in a process of its own (run with --expose-gc):
// `app`, the Entitle app as the http bench starts it (default caps: 1,000 streams per tenant);
// `bare`, the peer: a bare node:http server that holds server-sent-event responses open and
// writes one event to all of them on request, the least an open stream can cost.
// Speaks over IPC: `ready` with what the load needs; `memory` answers with the heap and RSS
// after a full collection; `stop`.

import { createServer, type ServerResponse } from 'node:http';
import { buildTestApp } from '../test/support/app.js';

export interface StreamsReady {
  readonly type: 'ready';
  readonly url: string;
  /** app: a member token of the tenant whose streams are opened, and an admin token. */
  readonly tokens?: { readonly member: string; readonly admin: string };
}

async function bare(): Promise<{ url: string; close: () => Promise<void> }> {
  const open = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    if (request.url === '/change') {
      for (const stream of open) stream.write(`data: {"type":"refetchEvaluation"}\n\n`);
      response.end('ok');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    response.write(': connected\n\n');
    open.add(response);
    response.on('close', () => open.delete(response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      for (const stream of open) stream.end();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function entitle(): Promise<Omit<StreamsReady, 'type'> & { close: () => Promise<void> }> {
  const t = await buildTestApp({ env: { ENTITLE_DB: ':memory:' } });
  const tokens = {
    member: await t.token('acme', 'alice', { plan: 'pro' }),
    admin: await t.token('ops', 'olivia', { role: 'admin' }),
  };
  const url = await t.app.listen({ host: '127.0.0.1', port: 0 });
  return { url, tokens, close: () => t.close() };
}

async function main(): Promise<void> {
  const server = process.argv[2] === 'bare' ? await bare() : await entitle();
  const { close, ...ready } = server;
  process.on('message', (message: { type: string }) => {
    if (message.type === 'memory') {
      globalThis.gc?.();
      globalThis.gc?.();
      const { heapUsed, rss } = process.memoryUsage();
      process.send?.({ type: 'memory', heapUsed, rss });
    }
    if (message.type === 'stop') void close().then(() => process.exit(0));
  });
  process.send?.({ type: 'ready', ...ready } satisfies StreamsReady);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
