// Rate limits on admin and OAuth routes: per caller, and per address for failed authentications,
// both checked before authentication so that guessing tokens is limited too.

import { afterEach, describe, expect, it } from 'vitest';
import { FailedAttempts } from '../../src/http/rate-limit.js';
import { buildTestApp, type TestApp } from '../support/app.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const bogus = (i: number) => `Bearer ent_${String(i).padStart(12, '0')}_${'x'.repeat(43)}`;

describe('admin routes', () => {
  it('answer 429 with Retry-After past the limit', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_ADMIN: '3' } });
    const headers = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const last = await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers });
    expect(last.json()).toEqual({ code: 'ENT_ERR_RATE_LIMITED', error: expect.stringMatching(/^Too many requests; retry in /), retryAfterSeconds: expect.any(Number) });
    expect(Number(last.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('count failed logins: the same wrong token is limited like any caller', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_ADMIN: '3' } });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: { authorization: bogus(1) } })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });

  it('count failed logins per address: a new guess each time is limited too, and so is that address', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_ADMIN: '3' } });
    const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.app.inject({ method: 'DELETE', url: '/api/admin/tenants/ops', headers: { authorization: bogus(i) } })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const blocked = await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: admin });
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not affected.
    expect((await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: admin, remoteAddress: '10.0.0.2' })).statusCode).toBe(200);
    expect(await t.app.entitle.store.tenants.get('ops')).toBeDefined();
  });
});

describe('OAuth routes', () => {
  it('answer 429 past their own limit', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_OAUTH: '2', ENTITLE_RATE_LIMIT_ADMIN: '1000' } });
    const headers = t.auth(await t.token('acme', 'alice', { plan: 'pro' }));
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const response = await t.app.inject({ method: 'POST', url: '/api/oauth/google/initiate/', headers, payload: { purpose: 'calendar' } });
      statuses.push(response.statusCode === 429 ? 429 : 'answered');
    }
    expect(statuses).toEqual(['answered', 'answered', 429]);
    // Other routes keep their own limits.
    expect((await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers })).statusCode).toBe(200);
  });

  it('count failed logins too', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_OAUTH: '2' } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await t.app.inject({ method: 'GET', url: '/api/oauth/google/callback/?code=x&state=y', headers: { authorization: bogus(i) } })).statusCode);
    expect(statuses).toEqual([401, 401, 429]);
  });
});

describe('FailedAttempts', () => {
  it('blocks an address at the limit until its one-minute window has passed', () => {
    let now = 0;
    const failures = new FailedAttempts(2, () => now);
    failures.record('a');
    expect(failures.blockedFor('a')).toBeUndefined();
    now = 10_000;
    failures.record('a');
    expect(failures.blockedFor('a')).toBe(50);
    expect(failures.blockedFor('b')).toBeUndefined();
    now = 60_000;
    expect(failures.blockedFor('a')).toBeUndefined();
    failures.record('a');
    expect(failures.blockedFor('a')).toBeUndefined();
  });
});
