// The admin API: tenants, entitlements with why (release toggles: test/interop/unleash-release-switch), audit.

import { describe, expect, it } from 'vitest';
import { useAdminApp } from './admin-app.js';

const h = useAdminApp();
const inject = h.inject;

describe('tenants', () => {
  it('creates, reads, lists with a cursor, changes the plan and deletes', async () => {
    const created = await inject('POST', '/api/admin/tenants', { id: 'acme', name: 'Acme Inc', plan: 'free' });
    expect(created.statusCode).toBe(201);
    expect(created.headers.location).toBe('/api/admin/tenants/acme');
    expect(created.json()).toMatchObject({ id: 'acme', name: 'Acme Inc', plan: 'free' });
    for (const id of ['b1', 'b2', 'b3']) await inject('POST', '/api/admin/tenants', { id, plan: 'pro' });

    const first = (await inject('GET', '/api/admin/tenants?limit=2')).json();
    expect(first.items.map((x: { id: string }) => x.id)).toEqual(['acme', 'b1']);
    const second = (await inject('GET', `/api/admin/tenants?limit=2&after=${first.nextCursor}`)).json();
    expect(second.items.map((x: { id: string }) => x.id)).toEqual(['b2', 'b3']);
    const third = (await inject('GET', `/api/admin/tenants?limit=2&after=${second.nextCursor}`)).json();
    expect(third.items.map((x: { id: string }) => x.id)).toEqual(['ops']);
    expect(third.nextCursor).toBeUndefined();

    const changed = await inject('PATCH', '/api/admin/tenants/acme', { plan: 'business' });
    expect(changed.json()).toMatchObject({ before: { plan: 'free' }, after: { plan: 'business' } });
    expect((await inject('GET', '/api/admin/tenants/acme')).json().plan).toBe('business');
    expect((await inject('DELETE', '/api/admin/tenants/acme')).statusCode).toBe(200);
    expect((await inject('GET', '/api/admin/tenants/acme')).statusCode).toBe(404);
  });

  it('rejects bad input with 400 naming the field, and unknown plans and duplicates clearly', async () => {
    const badId = await inject('POST', '/api/admin/tenants', { id: 'Not Valid!', plan: 'free' });
    expect(badId.statusCode).toBe(400);
    expect(badId.json().error).toMatch(/^body\.id/);
    const noPlan = await inject('POST', '/api/admin/tenants', { id: 'x' });
    expect(noPlan.json().error).toMatch(/body\.plan/);
    const unknownPlan = await inject('POST', '/api/admin/tenants', { id: 'x', plan: 'platinum' });
    expect(unknownPlan.statusCode).toBe(400);
    expect(unknownPlan.json().error).toMatch(/platinum/);
    await inject('POST', '/api/admin/tenants', { id: 'x', plan: 'free' });
    expect((await inject('POST', '/api/admin/tenants', { id: 'x', plan: 'free' })).statusCode).toBe(409);
    expect((await inject('PATCH', '/api/admin/tenants/nobody', { plan: 'pro' })).json()).toMatchObject({
      code: 'ENT_ERR_TENANT_NOT_FOUND',
      error: expect.stringContaining('nobody'),
    });
  });

  it('deleting a tenant removes its overrides and tokens in one go; its audit rows stay', async () => {
    await inject('POST', '/api/admin/tenants', { id: 'gone', plan: 'free' });
    await inject('PUT', '/api/admin/tenants/gone/overrides/can_use_webhooks', { value: true, reason: 'pilot' });
    const token = await h.t.token('gone', 'u1');
    expect(
      (await h.t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: h.t.auth(token) })).statusCode,
    ).toBe(200);
    expect((await inject('DELETE', '/api/admin/tenants/gone')).statusCode).toBe(200);
    expect(await h.t.app.entitle.store.overrides.list({ tenantId: 'gone' })).toEqual([]);
    expect(
      (await h.t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: h.t.auth(token) })).statusCode,
    ).toBe(401);
    const audit = (await inject('GET', '/api/admin/audit?tenant=gone'))
      .json()
      .items.map((row: { action: string }) => row.action);
    expect(audit).toEqual(expect.arrayContaining(['tenant.delete', 'override.set', 'tenant.create']));
  });
});

describe('entitlements of a tenant', () => {
  it('resolves every feature with value, source, plan and why', async () => {
    await inject('POST', '/api/admin/tenants', { id: 'acme', plan: 'pro' });
    await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_sms_reminders', {
      value: false,
      reason: 'carrier issue',
    });
    const response = await inject('GET', '/api/admin/tenants/acme/entitlements');
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ tenant: 'acme', plan: 'pro' });
    const byKey = Object.fromEntries(body.features.map((f: { feature: string }) => [f.feature, f]));
    expect(byKey.can_use_calendar_sync).toMatchObject({
      value: true,
      source: 'plan',
      cause: 'IN_PLAN',
      plan: 'pro',
      definedBy: 'pro',
    });
    // Revoked by an override on a plan that has it: no upgrade would bring it back.
    expect(byKey.can_use_sms_reminders).toEqual({
      feature: 'can_use_sms_reminders',
      featureName: 'SMS reminders',
      type: 'boolean',
      value: false,
      granted: false,
      variant: 'override',
      reason: 'TARGETING_MATCH',
      source: 'override',
      cause: 'REVOKED_BY_OVERRIDE',
      plan: 'pro',
      planVersion: 1,
      definedBy: null,
      policyVersion: h.t.app.entitle.policy.snapshot.version,
      override: { value: false, reason: 'carrier issue', actor: 'user:olivia@ops', expiresAt: null, version: 1 },
      requiredPlan: null,
    });
    expect(byKey.can_use_webhooks).toMatchObject({
      value: false,
      cause: 'NOT_IN_PLAN',
      requiredPlan: 'business',
      upgradeMessage: expect.any(String),
    });
    expect(byKey.max_connected_calendars).toMatchObject({ value: 2, definedBy: 'pro' });
    expect((await inject('GET', '/api/admin/tenants/nobody/entitlements')).statusCode).toBe(404);
  });
});

describe('audit', () => {
  it('filters by tenant, action and time, newest first, a page at a time', async () => {
    for (const id of ['a1', 'a2', 'a3']) {
      await inject('POST', '/api/admin/tenants', { id, plan: 'free' });
      h.now += 60_000;
    }
    const all = (await inject('GET', '/api/admin/audit?action=tenant.create&limit=2')).json();
    expect(all.items.map((row: { tenantId: string }) => row.tenantId)).toEqual(['a3', 'a2']);
    const next = (await inject('GET', `/api/admin/audit?action=tenant.create&limit=2&after=${all.nextCursor}`)).json();
    expect(next.items.map((row: { tenantId: string }) => row.tenantId)).toEqual(['a1', 'ops']);
    const since = (await inject('GET', '/api/admin/audit?action=tenant.create&since=2030-01-01T00:01:00Z')).json();
    expect(since.items.map((row: { tenantId: string }) => row.tenantId)).toEqual(['a3', 'a2']);
    const bad = await inject('GET', '/api/admin/audit?since=yesterday');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/since/);
  });

  it('filters by an action prefix such as override.*', async () => {
    await inject('POST', '/api/admin/tenants', { id: 'acme', plan: 'free' });
    await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_webhooks', { value: true, reason: 'pilot' });
    await inject('DELETE', '/api/admin/tenants/acme/overrides/can_use_webhooks');
    const rows = (await inject('GET', '/api/admin/audit?action=override.*')).json().items;
    expect(rows.map((row: { action: string }) => row.action)).toEqual(['override.clear', 'override.set']);
    const bad = await inject('GET', '/api/admin/audit?action=over%25');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/^querystring\.action/);
  });

  it('a cursor that is not one is 400 naming the field', async () => {
    const response = await inject('GET', '/api/admin/audit?after=abc');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      code: 'ENT_ERR_VALIDATION',
      error: 'querystring.after: must match pattern "^[0-9]{1,15}$"',
    });
  });
});
