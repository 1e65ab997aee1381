// A fake Unleash server on 127.0.0.1: the client API's GET /api/client/features with ETag and
// 304, register and metrics. Each toggle is on for the tenants listed for it (a tenantId IN
// constraint), and a test can change that list: the real unleash-client picks the change up on
// its next refresh.

import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeUnleash {
  /** The API base for unleash-client and UNLEASH_URL, e.g. http://127.0.0.1:1234/api/ */
  readonly url: string;
  /** Requests received, and the Authorization header of each. */
  readonly requests: { method: string; path: string; authorization: string | undefined }[];
  /** Turns a toggle on for exactly these tenants (an empty list: off for everyone). */
  setEnabledFor(toggle: string, tenants: readonly string[]): void;
  close(): Promise<void>;
}

export async function startFakeUnleash(toggles: Record<string, readonly string[]>): Promise<FakeUnleash> {
  const enabledFor = new Map(Object.entries(toggles));
  const requests: FakeUnleash['requests'] = [];

  const payload = (): string =>
    JSON.stringify({
      version: 2,
      features: [...enabledFor].map(([name, tenants]) => ({
        name,
        enabled: true,
        type: 'release',
        strategies: [
          {
            name: 'default',
            parameters: {},
            constraints: [{ contextName: 'tenantId', operator: 'IN', values: [...tenants] }],
          },
        ],
      })),
    });

  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] as string;
    requests.push({ method: request.method ?? 'GET', path, authorization: request.headers.authorization });
    if (request.method === 'GET' && path === '/api/client/features') {
      const body = payload();
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
      response.setHeader('etag', etag);
      if (request.headers['if-none-match'] === etag) {
        response.statusCode = 304;
        response.end();
        return;
      }
      response.setHeader('content-type', 'application/json');
      response.end(body);
      return;
    }
    // Drain the body of a register or metrics post before answering.
    request.resume();
    request.on('end', () => {
      response.statusCode = request.method === 'POST' ? 202 : 404;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/api/`,
    requests,
    setEnabledFor(toggle, tenants) {
      enabledFor.set(toggle, tenants);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
