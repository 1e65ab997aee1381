// Who may call what, for every route of the app's OpenAPI document: admin routes are for admin
// tokens only; the client role reaches the Unleash client API, OFREP and reads of the usage API
// (it is read-only everywhere: writing meters is for member, service and admin tokens, issue #21).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, NO_RATE_LIMITS, type TestApp } from '../support/app.js';
import { operationsOf, type Operation } from './openapi-routes.js';

let t: TestApp;
let operations: Operation[];
let member: { authorization: string };
let client: { authorization: string };

beforeAll(async () => {
  // High limits: this test calls every route several times.
  t = await buildTestApp({ env: { ...NO_RATE_LIMITS } });
  operations = await operationsOf(t.app);
  await t.token('acme', 'alice', { plan: 'pro' });
  member = t.auth(await t.token('ops', 'mike'));
  client = t.auth(await t.token('ops', 'sdk', { role: 'client' }));
});
afterAll(() => t.close());

const call = (operation: Operation, headers: Record<string, string> = {}) =>
  t.app.inject({ method: operation.method, url: operation.url, headers, payload: {} });
// The console's session routes belong to admin tokens too (signing in takes the token in the body).
const isAdmin = (operation: Operation) =>
  operation.path.startsWith('/api/admin/') || (operation.path === '/console/session' && operation.authenticated);
// /metrics too: the client role is what a Prometheus scraper is given.
const forSdks = (operation: Operation) =>
  operation.path.startsWith('/api/client/') || operation.path.startsWith('/ofrep/') || operation.path === '/metrics';
// The client role reads meters of any tenant and writes none of them (docs/metered-usage.md).
const readsUsage = (operation: Operation) =>
  operation.method === 'GET' && (operation.path === '/api/usage' || operation.path.startsWith('/api/usage/'));

describe('the routes under test', () => {
  it('come from the OpenAPI document, admin routes included', () => {
    const admin = operations.filter(isAdmin).map((operation) => `${operation.method} ${operation.path}`);
    expect(admin.length).toBeGreaterThanOrEqual(19);
    expect(admin).toEqual(
      expect.arrayContaining([
        'GET /api/admin/overrides',
        'DELETE /api/admin/tenants/{tenant}',
        'POST /api/admin/keys/rotate',
      ]),
    );
  });
});

describe('admin routes', () => {
  it('answer 401 without a token (the console’s session query: 204), and 403 to member and client tokens', async () => {
    const seen: Record<string, number[]> = {};
    const expected: Record<string, number[]> = {};
    for (const operation of operations.filter(isAdmin)) {
      const name = `${operation.method} ${operation.path}`;
      const forbidden = [await call(operation, member), await call(operation, client)];
      for (const response of forbidden) expect(response.json().code, name).toBe('ENT_ERR_ADMIN_REQUIRED');
      seen[name] = [(await call(operation)).statusCode, ...forbidden.map((response) => response.statusCode)];
      // A browser holding no session asks for one on every console load: "none" (204), not a 401.
      expected[name] = [name === 'GET /console/session' ? 204 : 401, 403, 403];
    }
    expect(seen).toEqual(expected);
    // Nothing was written on the way.
    expect(await t.app.entitle.store.tenants.get('acme')).toBeDefined();
  });
});

describe('the client role', () => {
  it('is refused everywhere but the Unleash client API, OFREP and reading the usage API', async () => {
    const seen: Record<string, string | number> = {};
    const expected: Record<string, string | number> = {};
    for (const operation of operations.filter((operation) => operation.authenticated && !isAdmin(operation))) {
      const name = `${operation.method} ${operation.path}`;
      const response = await call(operation, client);
      if (forSdks(operation)) {
        seen[name] = response.statusCode < 300 || response.statusCode === 404 ? 'allowed' : response.statusCode;
        expected[name] = 'allowed';
      } else if (readsUsage(operation)) {
        // Past the role check: an empty body is then a 400 naming the field, an unknown reservation a 404.
        seen[name] =
          response.statusCode < 300 || response.statusCode === 400 || response.statusCode === 404
            ? 'allowed'
            : response.statusCode;
        expected[name] = 'allowed';
      } else {
        seen[name] = response.json().code;
        expected[name] = 'ENT_ERR_ROLE_NOT_ALLOWED';
      }
    }
    expect(Object.keys(seen).length).toBeGreaterThanOrEqual(10);
    expect(seen).toEqual(expected);
  });
});
