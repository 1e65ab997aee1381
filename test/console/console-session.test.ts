// Console sessions: an admin token is exchanged for an HttpOnly, SameSite=Strict cookie that
// reaches the admin API (and nothing else); writes need the session's CSRF token; the session
// ends with sign-out, with its expiry, and when its token is revoked.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

async function signIn(t: TestApp, token: string, headers: Record<string, string> = {}) {
  const response = await t.app.inject({ method: 'POST', url: '/console/session', payload: { token }, headers });
  const cookie = response.cookies.find((candidate) => candidate.name === 'entitle_session');
  return {
    response,
    cookie: cookie ? `entitle_session=${cookie.value}` : '',
    attributes: cookie,
    csrf: (response.json() as { csrfToken?: string }).csrfToken ?? '',
  };
}

describe('console sessions', () => {
  it('exchange an admin token for an HttpOnly, SameSite=Strict cookie with an expiry, and audit the sign-in', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const t = await buildTestApp({ clock: () => now });
    try {
      const admin = await t.token('ops', 'olga', { role: 'admin' });
      const { response, attributes, cookie } = await signIn(t, admin);
      expect(response.statusCode).toBe(201);
      expect(response.json()).toEqual({
        actor: 'user:olga@ops',
        tokenId: expect.any(String),
        csrfToken: expect.stringMatching(/^[\w-]{32}$/),
        expiresAt: '2030-01-01T08:00:00.000Z',
      });
      expect(attributes).toMatchObject({
        httpOnly: true,
        sameSite: 'Strict',
        path: '/',
        expires: new Date('2030-01-01T08:00:00.000Z'),
      });
      expect(attributes?.secure).toBeUndefined();
      expect(cookie).not.toContain(admin);
      const audit = await t.app.entitle.store.audit.list({ action: 'console.sign_in' });
      expect(audit.items.map((row) => [row.actor, row.outcome])).toEqual([['user:olga@ops', 'success']]);

      const read = await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: { cookie } });
      expect(read.statusCode).toBe(200);
      now += 8 * 3_600_000;
      const late = await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: { cookie } });
      expect(late.statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('mark the cookie Secure behind https', async () => {
    const t = await buildTestApp();
    try {
      const { attributes } = await signIn(t, await t.token('ops', 'olga', { role: 'admin' }), {
        'x-forwarded-proto': 'https',
      });
      expect(attributes?.secure).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('refuse member tokens and unknown tokens', async () => {
    const t = await buildTestApp();
    try {
      const member = await signIn(t, await t.token('acme', 'alice'));
      expect(member.response.statusCode).toBe(403);
      expect(member.response.json().code).toBe('ENT_ERR_ADMIN_REQUIRED');
      const unknown = await signIn(t, `ent_000000000000_${'a'.repeat(43)}`);
      expect(unknown.response.statusCode).toBe(401);
      expect(unknown.cookie).toBe('');
    } finally {
      await t.close();
    }
  });

  it('need the CSRF token on every write, and change nothing without it', async () => {
    const t = await buildTestApp();
    try {
      await t.token('acme', 'alice');
      const { cookie, csrf } = await signIn(t, await t.token('ops', 'olga', { role: 'admin' }));
      const write = (headers: Record<string, string>) =>
        t.app.inject({
          method: 'PUT',
          url: '/api/admin/tenants/acme/overrides/can_use_sso',
          headers: { cookie, ...headers },
          payload: { value: true, reason: 'trial' },
        });
      // A wrong token: the real one with its last character changed (to one it is not).
      const wrong = `${csrf.slice(0, -1)}${csrf.endsWith('x') ? 'y' : 'x'}`;
      for (const headers of [{}, { 'x-csrf-token': wrong }] as Record<string, string>[]) {
        const refused = await write(headers);
        expect(refused.statusCode).toBe(403);
        expect(refused.json()).toMatchObject({ code: 'ENT_ERR_CSRF' });
      }
      expect(await t.app.entitle.store.overrides.get('acme', 'can_use_sso')).toBeUndefined();
      const accepted = await write({ 'x-csrf-token': csrf });
      expect(accepted.statusCode).toBe(201);
      expect(accepted.json()).toMatchObject({ actor: 'user:olga@ops', value: true });
    } finally {
      await t.close();
    }
  });

  it('reach the admin API only, not the routes of tenants and apps', async () => {
    const t = await buildTestApp();
    try {
      const { cookie } = await signIn(t, await t.token('ops', 'olga', { role: 'admin' }));
      const ofrep = await t.app.inject({
        method: 'POST',
        url: '/ofrep/v1/evaluate/flags',
        headers: { cookie },
        payload: {},
      });
      expect(ofrep.statusCode).toBe(401);
      const entitlements = await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: { cookie } });
      expect(entitlements.statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('end when the token is revoked, and on sign-out', async () => {
    const t = await buildTestApp();
    try {
      const admin = await t.token('ops', 'olga', { role: 'admin' });
      const first = await signIn(t, admin);
      const second = await signIn(t, admin);
      const current = await t.app.inject({ method: 'GET', url: '/console/session', headers: { cookie: first.cookie } });
      expect(current.json()).toMatchObject({ actor: 'user:olga@ops', csrfToken: first.csrf });

      const out = await t.app.inject({
        method: 'DELETE',
        url: '/console/session',
        headers: { cookie: first.cookie, 'x-csrf-token': first.csrf },
      });
      expect(out.statusCode).toBe(204);
      expect(out.cookies.find((cookie) => cookie.name === 'entitle_session')?.value).toBe('');
      expect(
        (await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: { cookie: first.cookie } }))
          .statusCode,
      ).toBe(401);
      expect(
        (await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: { cookie: second.cookie } }))
          .statusCode,
      ).toBe(200);

      const tokenId = second.response.json().tokenId as string;
      const revoke = await t.app.inject({
        method: 'DELETE',
        url: `/api/admin/tokens/${tokenId}`,
        headers: { cookie: second.cookie, 'x-csrf-token': second.csrf },
      });
      expect(revoke.statusCode).toBe(200);
      expect(
        (await t.app.inject({ method: 'GET', url: '/api/admin/tenants', headers: { cookie: second.cookie } }))
          .statusCode,
      ).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('answer every console request under a CSP without unsafe-inline, even before the console is built', async () => {
    const t = await buildTestApp({ consoleDirectory: '/nonexistent' });
    try {
      const missing = await t.app.inject({ method: 'GET', url: '/console' });
      expect(missing.statusCode).toBe(503);
      expect(missing.headers['content-security-policy']).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      );
      expect(missing.headers['x-frame-options']).toBe('DENY');
    } finally {
      await t.close();
    }
  });

  it('tell a fresh page "no session" with a 204, not a 401 the browser logs; an ended session is still a 401', async () => {
    const t = await buildTestApp();
    try {
      const fresh = await t.app.inject({ method: 'GET', url: '/console/session' });
      expect(fresh.statusCode).toBe(204);
      expect(fresh.body).toBe('');
      const ended = await t.app.inject({
        method: 'GET',
        url: '/console/session',
        headers: { cookie: 'entitle_session=gone' },
      });
      expect(ended.statusCode).toBe(401);
      const { cookie } = await signIn(t, await t.token('ops', 'olga', { role: 'admin' }));
      expect((await t.app.inject({ method: 'GET', url: '/console/session', headers: { cookie } })).statusCode).toBe(
        200,
      );
      // A bad bearer token is a failed authentication as before.
      const bearer = await t.app.inject({
        method: 'GET',
        url: '/console/session',
        headers: { authorization: 'Bearer nonsense' },
      });
      expect(bearer.statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('serve index.html revalidated on every load, and only the hashed assets immutable', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'entitle-console-'));
    mkdirSync(join(directory, 'assets'));
    writeFileSync(join(directory, 'index.html'), '<!doctype html><title>Console</title>');
    writeFileSync(join(directory, 'assets', 'main-3f2a9c1b.js'), 'export {};');
    const t = await buildTestApp({ consoleDirectory: directory });
    try {
      for (const url of ['/console', '/console/']) {
        const page = await t.app.inject({ method: 'GET', url });
        expect(page.statusCode, url).toBe(200);
        expect(page.headers['cache-control'], url).toBe('no-cache');
      }
      const asset = await t.app.inject({ method: 'GET', url: '/console/assets/main-3f2a9c1b.js' });
      expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    } finally {
      await t.close();
    }
  });
});
