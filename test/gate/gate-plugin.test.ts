import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';
import { CALENDAR_SYNC_NOT_IN_PLAN } from '../support/denials.js';

function testRoutes(app: FastifyInstance): void {
  app.get('/test/open', { config: { auth: 'required' } }, async () => ({ ok: true }));
  app.get('/test/gated', { config: { auth: 'required', feature: 'can_use_calendar_sync' } }, async () => ({
    ok: true,
  }));
  app.post<{ Body: { purpose: string } }>(
    '/test/conditional',
    {
      config: {
        auth: 'required',
        feature: {
          key: 'can_use_calendar_sync',
          when: (request) => (request.body as { purpose?: string }).purpose === 'calendar',
        },
      },
      schema: { body: { type: 'object', required: ['purpose'], properties: { purpose: { type: 'string' } } } },
    },
    async (request) => ({ purpose: request.body.purpose }),
  );
  app.get('/test/limit', { config: { auth: 'required' } }, async (request) => {
    const limit = await request.entitlements.details('max_connected_calendars');
    return { limit: limit.value, variant: limit.variant };
  });
  app.get('/test/number-gate', { config: { auth: 'required', feature: 'max_connected_calendars' } }, async () => ({
    ok: true,
  }));
}

describe('gate plugin', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await buildTestApp({ routes: testRoutes });
  });
  afterEach(async () => {
    await t.close();
  });

  it('answers 401 with WWW-Authenticate before looking at the feature', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/test/gated' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="entitle"');
    expect(res.json()).toEqual({ error: 'Authentication required', code: 'ENT_ERR_AUTH_REQUIRED' });
  });

  it('answers 401 invalid_token for an unknown or malformed token', async () => {
    for (const authorization of [
      'Bearer ent_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      'Bearer nonsense',
      'Basic abc',
    ]) {
      const res = await t.app.inject({ method: 'GET', url: '/test/gated', headers: { authorization } });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="entitle", error="invalid_token"');
      expect(res.json()).toEqual({ error: 'Authentication required', code: 'ENT_ERR_INVALID_TOKEN' });
    }
  });

  it('denies a free tenant with 403, the feature, the reason and the upgrade message', async () => {
    const token = await t.token('demo');
    const res = await t.app.inject({ method: 'GET', url: '/test/gated', headers: t.auth(token) });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual(CALENDAR_SYNC_NOT_IN_PLAN);
  });

  it('lets a pro tenant through', async () => {
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const res = await t.app.inject({ method: 'GET', url: '/test/gated', headers: t.auth(token) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true });
  });

  it('follows an override on the very next request, and says when an override revoked it', async () => {
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const { operations } = t.app.entitle;
    await operations.setOverride(
      { tenantId: 'acme', feature: 'can_use_calendar_sync', value: false, reason: 'chargeback' },
      { actor: 'ops' },
    );
    const revoked = await t.app.inject({ method: 'GET', url: '/test/gated', headers: t.auth(token) });
    expect(revoked.statusCode).toBe(403);
    expect(revoked.json()).toMatchObject({ reason: 'REVOKED_BY_OVERRIDE' });
    await operations.clearOverride('acme', 'can_use_calendar_sync', { actor: 'ops' });
    expect((await t.app.inject({ method: 'GET', url: '/test/gated', headers: t.auth(token) })).statusCode).toBe(200);
  });

  it('audits each 403 with the tenant, the feature and the reason', async () => {
    const token = await t.token('demo', 'bob');
    await t.app.inject({ method: 'GET', url: '/test/gated', headers: t.auth(token) });
    const { items } = await t.app.entitle.store.audit.list({ action: 'gate.denied' });
    expect(items).toEqual([
      expect.objectContaining({
        actor: 'user:bob@demo',
        tenantId: 'demo',
        target: 'feature:can_use_calendar_sync',
        outcome: 'denied',
        details: expect.objectContaining({ status: 403, reason: 'NOT_IN_PLAN', method: 'GET', route: '/test/gated' }),
      }),
    ]);
  });

  it('fails closed with 503 when the decision cannot be made', async () => {
    const token = await t.token('acme', 'alice', { plan: 'enterprise' });
    // A boolean gate on a number feature is an evaluation error (TYPE_MISMATCH): never a pass.
    const res = await t.app.inject({ method: 'GET', url: '/test/number-gate', headers: t.auth(token) });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      error: 'Entitlements cannot be checked right now; access is denied until they can',
      code: 'ENT_ERR_ENTITLEMENT_UNAVAILABLE',
    });
  });

  it('fails closed when the provider throws', async () => {
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const { provider } = t.app.entitle;
    provider.resolveBooleanEvaluation = async () => {
      throw new Error('boom');
    };
    const res = await t.app.inject({ method: 'GET', url: '/test/gated', headers: t.auth(token) });
    expect(res.statusCode).toBe(503);
  });

  it('applies a conditional requirement only when its condition holds, after the body is parsed', async () => {
    const token = await t.token('demo');
    const gated = await t.app.inject({
      method: 'POST',
      url: '/test/conditional',
      headers: t.auth(token),
      payload: { purpose: 'calendar' },
    });
    expect(gated.statusCode).toBe(403);
    const other = await t.app.inject({
      method: 'POST',
      url: '/test/conditional',
      headers: t.auth(token),
      payload: { purpose: 'login' },
    });
    expect(other.statusCode).toBe(200);
    expect(other.json()).toEqual({ purpose: 'login' });
    const noAuth = await t.app.inject({ method: 'POST', url: '/test/conditional', payload: { purpose: 'login' } });
    expect(noAuth.statusCode).toBe(401);
  });

  it("lets handlers read numeric entitlements of the caller's tenant", async () => {
    const token = await t.token('acme', 'alice', { plan: 'business' });
    expect((await t.app.inject({ method: 'GET', url: '/test/limit', headers: t.auth(token) })).json()).toEqual({
      limit: 6,
      variant: 'plan:business',
    });
  });

  it('accepts trailing slashes or none', async () => {
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    expect((await t.app.inject({ method: 'GET', url: '/test/gated/', headers: t.auth(token) })).statusCode).toBe(200);
  });

  it('refuses at boot a route gated on a feature the policy does not have', async () => {
    const error = await buildTestApp({
      routes: (app) => app.get('/x', { config: { feature: 'can_teleport' } }, async () => ({})),
    }).catch((e: unknown) => e);
    expect(String(error)).toContain('config.feature "can_teleport" is not a feature of the policy');
  });
});
