// The OpenAPI document at /docs/json: every operation of the app with its request and response
// schemas and its error responses, read from the document itself.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';
import { fill, ROUTES } from '../support/routes.js';
import { operationsOf, type Operation } from './openapi-routes.js';

// POSTs that take no body.
const NO_BODY = [
  'POST /api/admin/keys/rotate',
  'POST /api/admin/tenants/{tenant}/usage/{feature}/reset',
  'POST /api/admin/tenants/{tenant}/usage/reservations/{id}/release',
  'POST /api/admin/webhooks/{id}/rotate-secret',
];
// Answers without a body.
const EMPTY = ['202', '204', '304'];

let t: TestApp;
let operations: Operation[];
beforeAll(async () => {
  t = await buildTestApp();
  operations = await operationsOf(t.app);
});
afterAll(() => t.close());

const name = (operation: Operation) => `${operation.method} ${operation.path}`;
/** Path and query parameters are checked against their schemas (headers here only document). */
const checksParameters = (operation: Operation) =>
  ((operation.spec.parameters ?? []) as { in: string }[]).some(
    (parameter) => parameter.in === 'path' || parameter.in === 'query',
  );

describe('the OpenAPI document', () => {
  it('is served with interactive docs at /docs', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/api/admin/tenants/{tenant}/overrides/{feature}',
        '/api/admin/audit',
        '/api/entitlements/',
        '/ofrep/v1/evaluate/flags',
        '/api/calendar/sync/',
        '/api/oauth/{provider}/callback/',
      ]),
    );
    expect((await t.app.inject({ method: 'GET', url: '/docs/' })).statusCode).toBe(200);
    expect(operations.length).toBeGreaterThanOrEqual(35);
  });

  it('gives every operation a success response with a schema (or none, for bodiless answers)', () => {
    const problems: string[] = [];
    for (const operation of operations) {
      const successes = Object.entries(operation.spec.responses).filter(([status]) => status.startsWith('2'));
      if (successes.length === 0) problems.push(`${name(operation)}: no 2xx response`);
      for (const [status, response] of successes) {
        if (EMPTY.includes(status)) {
          if (response.content !== undefined) problems.push(`${name(operation)} ${status}: documented with a body`);
          continue;
        }
        // JSON everywhere but the Prometheus exposition (text/plain) and OFREP's event stream (text/event-stream).
        const schema = (
          response.content?.['application/json'] ??
          response.content?.['text/plain'] ??
          response.content?.['text/event-stream']
        )?.schema as Record<string, unknown> | undefined;
        if (!schema || !('type' in schema || 'anyOf' in schema || 'oneOf' in schema || '$ref' in schema))
          problems.push(`${name(operation)} ${status}: no response schema`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('documents the request body of every operation that takes one', () => {
    const withoutBody = operations
      .filter((operation) => ['POST', 'PUT', 'PATCH'].includes(operation.method) && !NO_BODY.includes(name(operation)))
      .filter((operation) => operation.spec.requestBody === undefined)
      .map(name);
    expect(withoutBody).toEqual([]);
  });

  it('documents 401 and 403 on authenticated routes, 429 on rate-limited ones, 400 where input is checked', () => {
    const problems: string[] = [];
    for (const operation of operations) {
      const statuses = Object.keys(operation.spec.responses);
      const needed = [
        ...(operation.authenticated ? ['401', '403'] : []),
        ...(operation.path.startsWith('/api/admin/') ? ['429'] : []),
        ...(operation.spec.requestBody !== undefined || checksParameters(operation) ? ['400'] : []),
      ];
      for (const status of needed) if (!statuses.includes(status)) problems.push(`${name(operation)}: no ${status}`);
    }
    expect(problems).toEqual([]);
  });

  it('describes health checks, console sign-in, event streams and the Stripe webhook as open, everything else as needing a bearer token', () => {
    const open = operations.filter((operation) => !operation.authenticated).map(name);
    // Sign-in takes the admin token in its body; an event stream's URL carries its own credential; Stripe signs its webhook.
    expect([...open].sort()).toEqual([
      'GET /healthz',
      'GET /ofrep/v1/events',
      'GET /readyz',
      'POST /api/billing/stripe/webhook',
      'POST /console/session',
    ]);
  });

  it('has every authenticated operation in the route list of the bad-input and tenant-isolation tests, and nothing else', () => {
    const documented = operations
      .filter((operation) => operation.authenticated)
      .map((operation) => `${operation.method} ${operation.url}`);
    const listed = ROUTES.map((route) => `${route.method} ${fill(route.url, {})}`);
    expect([...listed].sort()).toEqual([...documented].sort());
  });
});
