// Rate limits: a budget per authenticated principal for each route family, checked after the
// credential is verified (so spelling the header differently is the same caller), and failed
// authentications per client address, which never lock out a valid credential.

import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { FailedLogins } from '../../src/auth/failed-logins.js';
import { buildTestApp, type TestApp } from '../support/app.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const bogus = (i: number) => `Bearer ent_${String(i).padStart(12, '0')}_${'x'.repeat(43)}`;
const JWT_SECRET = 'a-test-secret-that-is-at-least-32-chars';
const jwt = (claims: Record<string, unknown>) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(JWT_SECRET));

describe('admin routes', () => {
  it('answer 429 with Retry-After past the limit', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_ADMIN: '3' } });
    const headers = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    const statuses = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const last = await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers });
    expect(last.json()).toEqual({
      code: 'ENT_ERR_RATE_LIMITED',
      error: expect.stringMatching(/^Too many requests; retry in /),
      retryAfterSeconds: expect.any(Number),
    });
    expect(Number(last.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('count one caller however the Authorization header is spelled', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_ADMIN: '3' } });
    const token = await t.token('ops', 'olivia', { role: 'admin' });
    const spellings = [`Bearer ${token}`, `bearer ${token}`, `BEARER  ${token}`, token, `Bearer ${token} `];
    const statuses = [];
    for (const authorization of spellings)
      statuses.push(
        (await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: { authorization } })).statusCode,
      );
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    // Another token of the same user is another principal with a budget of its own.
    const other = await t.token('ops', 'olivia', { role: 'admin' });
    expect((await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: t.auth(other) })).statusCode).toBe(
      200,
    );
  });

  it('count a JWT by issuer and subject, whatever else the token says', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_DECISIONS: '2', ENTITLE_JWT_SECRET: JWT_SECRET } });
    await t.token('acme');
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      // A fresh token each time (another jti): the same subject of the same issuer.
      const token = await jwt({ sub: 'carol', tenant_id: 'acme', iss: 'idp', jti: String(i) });
      statuses.push(
        (await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) })).statusCode,
      );
    }
    expect(statuses).toEqual([200, 200, 429]);
    const dave = await jwt({ sub: 'dave', tenant_id: 'acme', iss: 'idp' });
    expect((await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(dave) })).statusCode).toBe(
      200,
    );
  });
});

describe('OAuth routes', () => {
  it('answer 429 past their own limit, whatever the spelling', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_OAUTH: '2', ENTITLE_RATE_LIMIT_ADMIN: '1000' } });
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const statuses = [];
    for (const authorization of [`Bearer ${token}`, `bearer ${token}`, token]) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/oauth/google/initiate/',
        headers: { authorization },
        payload: { purpose: 'calendar' },
      });
      statuses.push(response.statusCode === 429 ? 429 : 'answered');
    }
    expect(statuses).toEqual(['answered', 'answered', 429]);
    // Other route families keep their own budgets.
    expect((await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) })).statusCode).toBe(
      200,
    );
  });
});

describe('calendar routes', () => {
  it('are limited per principal, so denials cannot grow the audit log faster than the limit', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_CALENDAR: '5' } });
    const headers = t.auth(await t.token('acme', 'alice', { plan: 'free' }));
    const before = (await t.app.entitle.store.audit.list({ tenantId: 'acme', limit: 1000 })).items.length;
    const statuses = [];
    for (let i = 0; i < 20; i++)
      statuses.push((await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers })).statusCode);
    expect(statuses).toEqual([...Array(5).fill(403), ...Array(15).fill(429)]);
    const after = (await t.app.entitle.store.audit.list({ tenantId: 'acme', limit: 1000 })).items.length;
    expect(after - before).toBe(5);
  });
});

describe('failed authentications', () => {
  it('are limited per address on every authenticated route family', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_AUTH_FAILURES: '3' } });
    const urls = ['/api/entitlements/', '/api/calendar/status/', '/api/admin/tenants', '/api/client/features'];
    for (const [n, url] of urls.entries()) {
      const statuses = [];
      for (let i = 0; i < 4; i++)
        statuses.push(
          (
            await t.app.inject({
              method: 'GET',
              url,
              headers: { authorization: bogus(i) },
              remoteAddress: `10.0.0.${n}`,
            })
          ).statusCode,
        );
      expect(statuses, url).toEqual([401, 401, 401, 429]);
    }
  });

  it('never refuse a valid token because others failed from the same address', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_AUTH_FAILURES: '3' } });
    const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    const statuses = [];
    for (let i = 0; i < 5; i++)
      statuses.push(
        (await t.app.inject({ method: 'DELETE', url: '/api/admin/tenants/ops', headers: { authorization: bogus(i) } }))
          .statusCode,
      );
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(await t.app.entitle.store.tenants.get('ops')).toBeDefined();
    expect((await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: admin })).statusCode).toBe(200);
    // A bad guess from the address still is refused.
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: { authorization: bogus(9) } }))
        .statusCode,
    ).toBe(429);
  });

  it('key on the client behind a proxy named in ENTITLE_TRUST_PROXY, and on the socket otherwise', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_AUTH_FAILURES: '2', ENTITLE_TRUST_PROXY: '10.1.0.0/16' } });
    const fail = (forwardedFor: string, remoteAddress = '10.1.2.3') =>
      t!.app
        .inject({
          method: 'GET',
          url: '/api/entitlements/',
          headers: { authorization: bogus(1), 'x-forwarded-for': forwardedFor },
          remoteAddress,
        })
        .then((r) => r.statusCode);
    // Two clients behind the trusted proxy: each has its own count.
    expect([await fail('203.0.113.7'), await fail('203.0.113.7'), await fail('203.0.113.7')]).toEqual([401, 401, 429]);
    expect(await fail('203.0.113.8')).toBe(401);
    // An untrusted sender's X-Forwarded-For is ignored: its own address counts.
    expect([
      await fail('198.51.100.1', '192.0.2.9'),
      await fail('198.51.100.2', '192.0.2.9'),
      await fail('198.51.100.3', '192.0.2.9'),
    ]).toEqual([401, 401, 429]);
  });

  it('count console sign-in failures and API failures from one address together', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_AUTH_FAILURES: '4' } });
    const api = () =>
      t!.app
        .inject({ method: 'GET', url: '/api/entitlements/', headers: { authorization: bogus(1) } })
        .then((r) => r.statusCode);
    const console = () =>
      t!.app
        .inject({ method: 'POST', url: '/console/session', payload: { token: bogus(2).slice(7) } })
        .then((r) => r.statusCode);
    expect([await api(), await console(), await api(), await console()]).toEqual([401, 401, 401, 401]);
    expect([await api(), await console()]).toEqual([429, 429]);
  });
});

describe('console sign-ins', () => {
  it('spend the admin budget of the token signing in, like the admin API', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_ADMIN: '3' } });
    const token = await t.token('ops', 'olivia', { role: 'admin' });
    const signIn = () =>
      t!.app.inject({ method: 'POST', url: '/console/session', payload: { token } }).then((r) => r.statusCode);
    expect([await signIn(), await signIn(), await signIn(), await signIn()]).toEqual([201, 201, 201, 429]);
    expect(await t.app.entitle.store.audit.list({ action: 'console.sign_in' })).toMatchObject({
      items: [{}, {}, {}],
    });
    // The same budget as the admin API: the token's API calls are refused too.
    expect((await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: t.auth(token) })).statusCode).toBe(
      429,
    );
    // Another admin token has a budget of its own.
    const other = await t.token('ops', 'oscar', { role: 'admin' });
    expect(
      (await t.app.inject({ method: 'POST', url: '/console/session', payload: { token: other } })).statusCode,
    ).toBe(201);
  });
});

describe('FailedLogins', () => {
  it('never forgets an address over its limit to make room for new ones', () => {
    const failures = new FailedLogins(3, () => 0, 100);
    for (let i = 0; i < 3; i++) failures.record('203.0.113.7');
    expect(failures.blockedFor('203.0.113.7')).toBe(60);
    // Ten thousand failures from other addresses (a proxy forwarding whatever it is sent).
    for (let i = 0; i < 10_000; i++) failures.record(`10.0.${i >> 8}.${i & 255}`);
    expect(failures.size).toBe(100);
    expect(failures.blockedFor('203.0.113.7')).toBe(60);
  });

  it('says once, when an address reaches its limit', () => {
    const failures = new FailedLogins(2, () => 0);
    expect([failures.record('a'), failures.record('a'), failures.record('a')]).toEqual([false, true, false]);
  });

  it('blocks an address at the limit until its one-minute window has passed', () => {
    let now = 0;
    const failures = new FailedLogins(2, () => now);
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
