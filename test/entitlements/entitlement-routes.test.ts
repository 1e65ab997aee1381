// What apps call with a tenant token: every feature at once, and the limit preflight.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeEach(async () => {
  t = await buildTestApp();
});
afterEach(() => t.close());

describe('GET /api/entitlements/', () => {
  it("lists every feature of the caller's tenant, with the upgrade message where it is off", async () => {
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const response = await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ tenant: 'acme', plan: 'pro', policyVersion: t.app.entitle.policy.snapshot.version });
    expect(Object.keys(body.features)).toEqual([...t.app.entitle.policy.snapshot.features.keys()]);
    expect(body.features.can_use_calendar_sync).toEqual({
      name: 'Calendar Sync',
      type: 'boolean',
      value: true,
      enabled: true,
      cause: 'IN_PLAN',
    });
    expect(body.features.max_connected_calendars).toMatchObject({ type: 'number', value: 2, enabled: true });
    expect(body.features.can_use_webhooks).toEqual({
      name: 'Webhooks',
      type: 'boolean',
      value: false,
      enabled: false,
      cause: 'NOT_IN_PLAN',
      requiredPlan: 'business',
      message: 'Webhooks are available on the Business plan and above.',
    });
  });

  it('sends no upgrade prompt for a feature an override took away: the plan already has it', async () => {
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    await t.app.entitle.operations.setOverride(
      { tenantId: 'acme', feature: 'can_use_calendar_sync', value: false, reason: 'chargeback' },
      { actor: 'test' },
    );
    await t.app.entitle.operations.setOverride(
      { tenantId: 'acme', feature: 'can_use_webhooks', value: false, reason: 'abuse' },
      { actor: 'test' },
    );
    const body = (await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) })).json();
    expect(body.features.can_use_calendar_sync).toEqual({
      name: 'Calendar Sync',
      type: 'boolean',
      value: false,
      enabled: false,
      cause: 'REVOKED_BY_OVERRIDE',
      requiredPlan: null,
    });
    // Not in the plan, and an override on top: upgrading would not help either.
    expect(body.features.can_use_webhooks).toEqual({
      name: 'Webhooks',
      type: 'boolean',
      value: false,
      enabled: false,
      cause: 'REVOKED_BY_OVERRIDE',
      requiredPlan: null,
    });
  });

  it('is not for client tokens: they read decisions through OFREP or the Unleash client API', async () => {
    const client = await t.token('ops', 'sdk', { role: 'client' });
    const response = await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(client) });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({
      code: 'ENT_ERR_ROLE_NOT_ALLOWED',
      error: 'A client token may not use this route (it needs member or admin)',
    });
  });

  it('needs authentication and ignores client-set tenant hints', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/entitlements/' })).statusCode).toBe(401);
    const token = await t.token('acme', 'alice', { plan: 'free' });
    await t.token('rich', 'bob', { plan: 'enterprise' });
    const body = (
      await t.app.inject({
        method: 'GET',
        url: '/api/entitlements/?tenantId=rich',
        headers: { ...t.auth(token), 'x-tenant-id': 'rich' },
      })
    ).json();
    expect(body.tenant).toBe('acme');
    expect(body.features.can_use_sso.enabled).toBe(false);
  });
});

describe('POST /api/entitlements/preflight', () => {
  it('answers from the limit and the count the server keeps (connected calendars), consuming nothing', async () => {
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const ask = (payload: object) =>
      t.app.inject({ method: 'POST', url: '/api/entitlements/preflight', headers: t.auth(token), payload });
    const one = await ask({ feature: 'max_connected_calendars' });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({
      feature: 'max_connected_calendars',
      allowed: true,
      limit: 2,
      current: 0,
      requested: 1,
      remaining: 2,
      countedBy: 'server',
    });
    // Asking again gives the same answer: nothing was reserved.
    expect((await ask({ feature: 'max_connected_calendars' })).json().remaining).toBe(2);
    const three = (await ask({ feature: 'max_connected_calendars', add: 3 })).json();
    expect(three).toMatchObject({ allowed: false, limit: 2, requiredPlan: 'business', message: expect.any(String) });
    // The server's count wins over what a client claims.
    expect((await ask({ feature: 'max_connected_calendars', current: 100 })).json()).toMatchObject({
      allowed: true,
      current: 0,
    });
  });

  it('names no plan to upgrade to when an override sets the limit', async () => {
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    await t.app.entitle.operations.setOverride(
      { tenantId: 'acme', feature: 'max_booking_pages', value: 3, reason: 'capped' },
      { actor: 'test' },
    );
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/entitlements/preflight',
      headers: t.auth(token),
      payload: { feature: 'max_booking_pages', current: 3 },
    });
    expect(response.json()).toEqual({
      feature: 'max_booking_pages',
      featureName: 'Booking pages',
      allowed: false,
      limit: 3,
      current: 3,
      requested: 1,
      remaining: 0,
      countedBy: 'client',
      requiredPlan: null,
    });
  });

  it('takes the current count from the client for limits the server does not count', async () => {
    const token = await t.token('acme', 'alice', { plan: 'free' });
    const ask = (payload: object) =>
      t.app.inject({ method: 'POST', url: '/api/entitlements/preflight', headers: t.auth(token), payload });
    expect((await ask({ feature: 'max_booking_pages', current: 0 })).json()).toMatchObject({
      allowed: true,
      limit: 1,
      countedBy: 'client',
    });
    expect((await ask({ feature: 'max_booking_pages', current: 1 })).json()).toMatchObject({
      allowed: false,
      requiredPlan: 'pro',
    });
    const missing = await ask({ feature: 'max_booking_pages' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toMatch(/^current/);
  });

  it('rejects non-numeric and unknown features and bad counts with messages naming them', async () => {
    const token = await t.token('acme', 'alice');
    const ask = (payload: object) =>
      t.app.inject({ method: 'POST', url: '/api/entitlements/preflight', headers: t.auth(token), payload });
    expect((await ask({ feature: 'can_use_webhooks' })).json().error).toMatch(/not a numeric limit/);
    const unknown = await ask({ feature: 'max_rockets' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toContain('max_rockets');
    expect((await ask({ feature: 'max_booking_pages', add: 0 })).json().error).toMatch(/body\.add/);
    expect((await ask({ feature: 'max_booking_pages', add: 'many' })).json().error).toMatch(/body\.add/);
  });
});
