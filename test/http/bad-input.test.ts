// Bad input on every route: generated bodies, query strings and headers — wrong types, huge
// strings, deep JSON, unicode, prototype-pollution keys, missing fields, oversized bodies.
// Always a 4xx with a clear message (or a 2xx when the input happens to be valid), never a 500,
// and a rejected request never changes a row.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS, type TestApp } from '../support/app.js';
import { buildCalendarApp, startFakes, type Fakes } from '../support/calendar.js';
import { fill, ROUTES, rowsOf } from '../support/routes.js';
import { runs } from '../support/runs.js';

let fakes: Fakes;
let t: TestApp;
let admin: string;
let member: string;

beforeAll(async () => {
  fakes = await startFakes();
  t = await buildCalendarApp(fakes, { env: { ...NO_RATE_LIMITS } });
  admin = await t.token('ops', 'olivia', { role: 'admin' });
  member = await t.token('acme', 'alice', { plan: 'business' });
});
afterAll(async () => {
  await t.close();
  await fakes.close();
});

const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.constantFrom<unknown>(
    { __proto__: { admin: true } },
    JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}'),
    { value: { $gt: '' }, reason: ['x'] },
    { id: 'x'.repeat(100_000), plan: 'free' },
    { purpose: 'calendar\u0000', connectionId: '../../etc/passwd' },
    { connectionId: '😀'.repeat(100), calendarIds: Array(1000).fill('x') },
    { feature: 'max_connected_calendars', add: -1e308, current: Number.MAX_SAFE_INTEGER },
    JSON.parse('{"value":1e309}'),
    [],
    null,
  ),
);

/** Deeply nested JSON: fastify's parser and our schemas must refuse it without falling over. */
function deep(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

async function ensureScratch(): Promise<void> {
  if (!(await t.app.entitle.store.tenants.get('scratch')))
    await t.app.entitle.operations.createTenant({ id: 'scratch', plan: 'free' }, { actor: 'test' });
}

async function send(
  route: (typeof ROUTES)[number],
  token: string | undefined,
  body: unknown,
  query: string,
  headers: Record<string, string> = {},
) {
  // Admin routes aim at a scratch tenant: a valid DELETE must not take the caller's tenant away.
  const url = fill(route.url, { tenant: 'scratch' }) + query;
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return t.app.inject({
    method: route.method,
    url,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(payload !== undefined && route.method !== 'GET' ? { payload } : {}),
  });
}

function expectClean(status: number, body: string, label: string): void {
  expect(status, `${label}: ${body.slice(0, 300)}`).toBeLessThan(500);
  if (status >= 400) {
    const parsed = JSON.parse(body) as { error?: unknown; errorCode?: unknown };
    expect(
      typeof parsed.error === 'string' || typeof parsed.errorCode === 'string',
      `${label}: ${body.slice(0, 300)}`,
    ).toBe(true);
  }
}

describe('bad input on every route', () => {
  it('the caller stays valid throughout (nothing above deleted it)', async () => {
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: { authorization: `Bearer ${member}` } }))
        .statusCode,
    ).toBe(200);
  });

  it.each(ROUTES)(
    '$method $url: generated bodies and query strings never give a 5xx or change a row when refused',
    async (route) => {
      const token = route.admin ? admin : member;
      await fc.assert(
        fc.asyncProperty(
          nasty,
          fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 30 }), { maxKeys: 3 }),
          async (body, query) => {
            await ensureScratch();
            const before = await rowsOf(t.app);
            const qs = Object.keys(query).length > 0 ? `?${new URLSearchParams(query)}` : '';
            const response = await send(route, token, body, qs);
            expectClean(response.statusCode, response.body, `${route.method} ${route.url}`);
            if (response.statusCode >= 400) expect(await rowsOf(t.app)).toBe(before);
            expect(({} as Record<string, unknown>).polluted).toBeUndefined();
            expect(({} as Record<string, unknown>).admin).toBeUndefined();
          },
        ),
        { numRuns: runs(15, 300) },
      );
    },
  );

  it.each(ROUTES)(
    '$method $url: malformed JSON, deep JSON, an oversized body and odd headers are refused cleanly',
    async (route) => {
      const token = route.admin ? admin : member;
      /** One request: clean answer, and nothing changed when it was refused. */
      const attempt = async (label: string, request: () => ReturnType<typeof send>) => {
        await ensureScratch();
        const before = await rowsOf(t.app);
        const response = await request();
        expectClean(response.statusCode, response.body, `${route.method} ${route.url} ${label}`);
        if (response.statusCode >= 400) expect(await rowsOf(t.app)).toBe(before);
        return response;
      };
      if (route.method !== 'GET') {
        for (const payload of ['{"a":', deep(10_000), 'x'.repeat(2 * 1024 * 1024), '\uFEFF{}', '{"a":1}{"b":2}']) {
          await attempt(payload.slice(0, 10), () => send(route, token, payload, ''));
        }
        await attempt('form body', () =>
          send(route, token, 'a=1', '', { 'content-type': 'application/x-www-form-urlencoded' }),
        );
      }
      for (const authorization of [
        'Bearer',
        'Bearer ' + 'x'.repeat(10_000),
        'Basic Zm9vOmJhcg==',
        `Bearer ${token}\u0000`,
        'Bearer ent_000000000000_' + 'A'.repeat(43),
      ]) {
        const response = await attempt(authorization.slice(0, 20), () =>
          t.app.inject({
            method: route.method,
            url: fill(route.url, { tenant: 'scratch' }),
            headers: { authorization },
          }),
        );
        expect(response.statusCode, authorization.slice(0, 40)).toBe(401);
      }
      // Unknown query parameters are ignored (a DELETE may succeed); tenant hints never choose the tenant.
      await attempt('query', () =>
        send(route, token, undefined, `?${'x'.repeat(5000)}=${'y'.repeat(5000)}&tenantId=ops&__proto__[admin]=1`, {
          'x-tenant-id': 'ops',
          'accept-language': '😀',
        }),
      );
    },
  );
});
