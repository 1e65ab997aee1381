// A fake Stripe API on 127.0.0.1 for the real stripe client (host/port/protocol settings, or
// STRIPE_API_URL): GET /v1/subscriptions/:id and GET /v1/subscriptions with Stripe's cursor
// paging (limit, starting_after, has_more). A test sets what Stripe "has" and reads the requests.

import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeStripe {
  /** Base URL for STRIPE_API_URL, e.g. http://127.0.0.1:1234 */
  readonly url: string;
  /** Requests received: method, path with query, and the Authorization header. */
  readonly requests: { method: string; path: string; authorization: string | undefined }[];
  /** Sets (or replaces) a subscription object as Stripe has it now. */
  put(subscription: Record<string, unknown>): void;
  /** Answers the next `count` requests with 500 (the client retries some). */
  failNext(count: number): void;
  close(): Promise<void>;
}

export async function startFakeStripe(): Promise<FakeStripe> {
  const subscriptions = new Map<string, Record<string, unknown>>();
  const requests: FakeStripe['requests'] = [];
  let failures = 0;

  const send = (response: ServerResponse, status: number, body: unknown): void => {
    response.statusCode = status;
    response.setHeader('content-type', 'application/json');
    response.setHeader('request-id', `req_fake_${requests.length}`);
    response.end(JSON.stringify(body));
  };

  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    requests.push({
      method: request.method ?? 'GET',
      path: `${url.pathname}${url.search}`,
      authorization: request.headers.authorization,
    });
    request.resume();
    if (failures > 0) {
      failures--;
      send(response, 500, { error: { type: 'api_error', message: 'fake outage' } });
      return;
    }
    if (request.method !== 'GET') {
      send(response, 404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
      return;
    }
    const one = /^\/v1\/subscriptions\/([^/]+)$/.exec(url.pathname);
    if (one) {
      const found = subscriptions.get(decodeURIComponent(one[1] as string));
      if (found) send(response, 200, found);
      else
        send(response, 404, {
          error: {
            type: 'invalid_request_error',
            code: 'resource_missing',
            message: `No such subscription: '${one[1]}'`,
            param: 'id',
          },
        });
      return;
    }
    if (url.pathname === '/v1/subscriptions') {
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 10), 100);
      const after = url.searchParams.get('starting_after');
      const status = url.searchParams.get('status');
      // Stripe's default list leaves canceled subscriptions out; status=all includes them.
      const all = [...subscriptions.values()].filter(
        (s) => status === 'all' || (status ? s.status === status : s.status !== 'canceled'),
      );
      const start = after ? all.findIndex((s) => s.id === after) + 1 : 0;
      const data = all.slice(start, start + limit);
      send(response, 200, { object: 'list', url: '/v1/subscriptions', has_more: start + limit < all.length, data });
      return;
    }
    send(response, 404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    put: (subscription) => void subscriptions.set(String(subscription.id), subscription),
    failNext: (count) => {
      failures = count;
    },
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
