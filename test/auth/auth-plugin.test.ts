import { SignJWT } from 'jose';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { issueApiToken } from '../../src/auth/api-tokens.js';
import { buildTestApp, type TestApp } from '../support/app.js';

const SECRET = 'a-test-secret-that-is-at-least-32-chars';

function routes(app: FastifyInstance): void {
  app.get('/test/whoami', { config: { auth: 'required' } }, async (request) => request.principal);
  app.get('/test/admin', { config: { auth: 'admin' } }, async () => ({ ok: true }));
  app.post('/test/whoami', { config: { auth: 'required' } }, async (request) => ({
    tenantId: request.principal?.tenantId,
  }));
}

async function jwt(claims: Record<string, unknown>, secret = SECRET, expiresIn = '5m') {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

describe('authentication', () => {
  let t: TestApp;
  afterEach(async () => {
    await t.close();
  });

  describe('API tokens', () => {
    it('turns a valid token into the principal of its tenant and user', async () => {
      t = await buildTestApp({ routes });
      const token = await t.token('acme', 'alice');
      const res = await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(token) });
      expect(res.json()).toEqual({
        tenantId: 'acme',
        userId: 'alice',
        role: 'member',
        via: { kind: 'token', tokenId: token.slice(4, 16) },
      });
    });

    it('never takes the tenant from a header or the body', async () => {
      t = await buildTestApp({ routes });
      const token = await t.token('acme');
      const res = await t.app.inject({
        method: 'POST',
        url: '/test/whoami',
        headers: { ...t.auth(token), 'x-tenant-id': 'globex' },
        payload: { tenantId: 'globex' },
      });
      expect(res.json()).toEqual({ tenantId: 'acme' });
    });

    it('rejects a revoked token and an expired one', async () => {
      let now = Date.parse('2030-01-01T00:00:00Z');
      t = await buildTestApp({ routes, clock: () => now });
      const { store, operations } = t.app.entitle;
      await operations.createTenant({ id: 'acme', plan: 'free' }, { actor: 't' });
      const revoked = await issueApiToken(store, { tenantId: 'acme', userId: 'a' }, { actor: 't' });
      await store.tokens.revoke(revoked.record.id, { actor: 't' });
      expect(
        (await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(revoked.token) })).statusCode,
      ).toBe(401);
      const expiring = await issueApiToken(
        store,
        { tenantId: 'acme', userId: 'b', expiresAt: '2030-01-01T01:00:00.000Z' },
        { actor: 't' },
      );
      expect(
        (await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(expiring.token) })).statusCode,
      ).toBe(200);
      now += 3_600_000;
      expect(
        (await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(expiring.token) })).statusCode,
      ).toBe(401);
    });

    it('stores only a hash of the token', async () => {
      // The SQLite store specifically: this test reads its table directly.
      t = await buildTestApp({ routes, env: { ENTITLE_DB: ':memory:' } });
      const token = await t.token('acme');
      const store = t.app.entitle.store as unknown as { db: { prepare(sql: string): { all(): unknown[] } } };
      expect(JSON.stringify(store.db.prepare('SELECT * FROM api_tokens').all())).not.toContain(token.slice(17));
    });

    it('answers 403 to a member token on an admin route, 200 to an admin token', async () => {
      t = await buildTestApp({ routes });
      const member = await t.token('acme');
      const admin = await t.token('acme', 'ops', { role: 'admin' });
      const denied = await t.app.inject({ method: 'GET', url: '/test/admin', headers: t.auth(member) });
      expect(denied.statusCode).toBe(403);
      expect(denied.json()).toEqual({ error: 'This route needs an admin token', code: 'ENT_ERR_ADMIN_REQUIRED' });
      expect((await t.app.inject({ method: 'GET', url: '/test/admin', headers: t.auth(admin) })).statusCode).toBe(200);
    });
  });

  describe('JWTs', () => {
    const env = {
      ENTITLE_JWT_SECRET: SECRET,
      ENTITLE_JWT_TENANT_CLAIM: 'org',
      ENTITLE_JWT_ISSUER: 'https://id.example.test',
    };

    it('accepts an HS256 JWT and reads tenant, user and role from the configured claims', async () => {
      t = await buildTestApp({ routes, env });
      const token = await new SignJWT({ org: 'acme', sub: 'carol', role: 'entitle:admin' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('https://id.example.test')
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(SECRET));
      const res = await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(token) });
      expect(res.json()).toEqual({
        tenantId: 'acme',
        userId: 'carol',
        role: 'admin',
        via: { kind: 'jwt', issuer: 'https://id.example.test', subject: 'carol' },
      });
    });

    it.each([
      ['"admin" (a tenant\'s own admin at many identity providers)', 'admin', 'member'],
      ['a list holding the operator value', ['viewer', 'entitle:admin'], 'admin'],
      ['nothing', undefined, 'member'],
    ])('maps a role claim of %s to its role', async (_, claim, role) => {
      t = await buildTestApp({ routes, env });
      const token = await jwt({
        org: 'acme',
        sub: 'dave',
        iss: 'https://id.example.test',
        ...(claim === undefined ? {} : { role: claim }),
      });
      const res = await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(token) });
      expect(res.json()).toEqual({
        tenantId: 'acme',
        userId: 'dave',
        role,
        via: { kind: 'jwt', issuer: 'https://id.example.test', subject: 'dave' },
      });
    });

    it('maps the SDK client value to the read-only client role, which app routes refuse', async () => {
      t = await buildTestApp({ routes, env });
      const token = await jwt({ org: 'acme', sub: 'sdk', iss: 'https://id.example.test', role: 'entitle:client' });
      const res = await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(token) });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: 'ENT_ERR_ROLE_NOT_ALLOWED' });
    });

    it('maps the service value to the service role: the usage API of its own tenant admits it, app routes refuse it', async () => {
      t = await buildTestApp({ routes, env });
      await t.token('acme');
      const token = await jwt({ org: 'acme', sub: 'billing', iss: 'https://id.example.test', role: 'entitle:service' });
      const app = await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(token) });
      expect(app.json()).toMatchObject({
        code: 'ENT_ERR_ROLE_NOT_ALLOWED',
        error: expect.stringMatching(/^A service token/),
      });
      const usage = await t.app.inject({ method: 'GET', url: '/api/usage', headers: t.auth(token) });
      expect(usage.json()).toMatchObject({ tenant: 'acme' });
    });

    it('rejects a JWT with a bad signature, a wrong issuer, an expired one, or no tenant claim', async () => {
      t = await buildTestApp({ routes, env });
      const bad = [
        await jwt(
          { org: 'acme', sub: 'x', iss: 'https://id.example.test' },
          'another-secret-that-is-at-least-32-chars',
        ),
        await jwt({ org: 'acme', sub: 'x', iss: 'https://evil.test' }),
        await jwt({ org: 'acme', sub: 'x', iss: 'https://id.example.test' }, SECRET, '-1m'),
        await jwt({ sub: 'x', iss: 'https://id.example.test' }),
      ];
      for (const token of bad) {
        const res = await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(token) });
        expect(res.statusCode).toBe(401);
      }
    });

    it('rejects a JWT without exp, unless ENTITLE_JWT_ALLOW_NO_EXP=true', async () => {
      const forever = await new SignJWT({ org: 'acme', sub: 'erin' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('https://id.example.test')
        .sign(new TextEncoder().encode(SECRET));
      t = await buildTestApp({ routes, env });
      const refused = await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(forever) });
      expect(refused.statusCode).toBe(401);
      await t.close();
      t = await buildTestApp({ routes, env: { ...env, ENTITLE_JWT_ALLOW_NO_EXP: 'true' } });
      const accepted = await t.app.inject({ method: 'GET', url: '/test/whoami', headers: t.auth(forever) });
      expect(accepted.json()).toMatchObject({ tenantId: 'acme', userId: 'erin' });
    });

    it.each(['../globex', 'Acme', 'acme/../globex', '', 'a'.repeat(65), 'acme\u0000'])(
      'rejects a tenant claim that is not a tenant id: %j',
      async (tenant) => {
        t = await buildTestApp({ routes, env });
        const res = await t.app.inject({
          method: 'GET',
          url: '/test/whoami',
          headers: t.auth(await jwt({ org: tenant, sub: 'x', iss: 'https://id.example.test' })),
        });
        expect(res.statusCode).toBe(401);
        expect(res.body).not.toContain('globex');
      },
    );

    it('does not accept JWTs when none is configured', async () => {
      t = await buildTestApp({ routes });
      const res = await t.app.inject({
        method: 'GET',
        url: '/test/whoami',
        headers: t.auth(await jwt({ org: 'acme', sub: 'x' })),
      });
      expect(res.statusCode).toBe(401);
    });
  });
});
