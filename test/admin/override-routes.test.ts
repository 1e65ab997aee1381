// Overrides over the admin API: ETag/If-Match, values checked against the feature, audit with
// before and after, and the list across tenants.

import { beforeEach, describe, expect, it } from 'vitest';
import { useAdminApp } from './admin-app.js';

const h = useAdminApp();
const inject = h.inject;

describe('overrides', () => {
  beforeEach(async () => {
    await inject('POST', '/api/admin/tenants', { id: 'acme', plan: 'free' });
  });

  it('sets, reads (with ETag), replaces with If-Match, refuses a stale If-Match (412) and deletes', async () => {
    const created = await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_calendar_sync', {
      value: true,
      reason: 'trial',
      expiresAt: '2030-02-01T00:00:00Z',
    });
    expect(created.statusCode).toBe(201);
    expect(created.headers.etag).toBe('"1"');
    expect(created.json()).toMatchObject({
      tenantId: 'acme',
      feature: 'can_use_calendar_sync',
      value: true,
      reason: 'trial',
      actor: 'user:olivia@ops',
      expiresAt: '2030-02-01T00:00:00.000Z',
      version: 1,
      active: true,
    });

    const read = await inject('GET', '/api/admin/tenants/acme/overrides/can_use_calendar_sync');
    expect(read.headers.etag).toBe('"1"');
    const replaced = await inject(
      'PUT',
      '/api/admin/tenants/acme/overrides/can_use_calendar_sync',
      { value: true, reason: 'trial extended' },
      { 'if-match': '"1"' },
    );
    expect(replaced.statusCode).toBe(200);
    expect(replaced.headers.etag).toBe('"2"');

    const stale = await inject(
      'PUT',
      '/api/admin/tenants/acme/overrides/can_use_calendar_sync',
      { value: false, reason: 'late' },
      { 'if-match': '"1"' },
    );
    expect(stale.statusCode).toBe(412);
    expect(stale.json().error).toMatch(/ETag/);
    expect((await inject('GET', '/api/admin/tenants/acme/overrides/can_use_calendar_sync')).json()).toMatchObject({
      value: true,
      reason: 'trial extended',
      version: 2,
    });

    expect(
      (
        await inject(
          'DELETE',
          '/api/admin/tenants/acme/overrides/can_use_calendar_sync?reason=trial%20over',
          undefined,
          { 'if-match': '"1"' },
        )
      ).statusCode,
    ).toBe(412);
    expect(
      (
        await inject(
          'DELETE',
          '/api/admin/tenants/acme/overrides/can_use_calendar_sync?reason=trial%20over',
          undefined,
          { 'if-match': '"2"' },
        )
      ).statusCode,
    ).toBe(200);
    expect((await inject('GET', '/api/admin/tenants/acme/overrides/can_use_calendar_sync')).statusCode).toBe(404);
  });

  it('If-Match "0" creates only when there is no override yet', async () => {
    expect(
      (
        await inject(
          'PUT',
          '/api/admin/tenants/acme/overrides/can_use_webhooks',
          { value: true, reason: 'a' },
          { 'if-match': '"0"' },
        )
      ).statusCode,
    ).toBe(201);
    expect(
      (
        await inject(
          'PUT',
          '/api/admin/tenants/acme/overrides/can_use_webhooks',
          { value: true, reason: 'b' },
          { 'if-match': '"0"' },
        )
      ).statusCode,
    ).toBe(412);
  });

  it('checks the value against the feature type and names what is wrong', async () => {
    const wrongType = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', {
      value: 'lots',
      reason: 'x',
    });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().error).toMatch(/^value/);
    const noReason = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', { value: 3 });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().error).toMatch(/reason/);
    const past = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', {
      value: 3,
      reason: 'x',
      expiresAt: '2020-01-01T00:00:00Z',
    });
    expect(past.json().error).toMatch(/expiresAt/);
    const badEtag = await inject(
      'PUT',
      '/api/admin/tenants/acme/overrides/max_connected_calendars',
      { value: 3, reason: 'x' },
      { 'if-match': 'yesterday' },
    );
    expect(badEtag.statusCode).toBe(400);
    expect(badEtag.json().error).toMatch(/If-Match/);
    expect(await h.t.app.entitle.store.overrides.list({ tenantId: 'acme' })).toEqual([]);
  });

  it('takes JSON types as they are: 1 stays a number, true stays a boolean, unknown fields are refused', async () => {
    const one = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', {
      value: 1,
      reason: 'x',
    });
    expect(one.statusCode).toBe(201);
    expect(one.json().value).toBe(1);
    const yes = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', {
      value: true,
      reason: 'x',
    });
    expect(yes.statusCode).toBe(400);
    const text = await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_webhooks', {
      value: 'true',
      reason: 'x',
    });
    expect(text.statusCode).toBe(400);
    const extra = await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_webhooks', {
      value: true,
      reason: 'x',
      tenantId: 'other',
    });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error).toBe('body.tenantId: unknown field');
  });

  it('an unknown feature or tenant is 404 naming it', async () => {
    const feature = await inject('PUT', '/api/admin/tenants/acme/overrides/can_fly', { value: true, reason: 'x' });
    expect(feature.statusCode).toBe(404);
    expect(feature.json().error).toContain('can_fly');
    const tenant = await inject('PUT', '/api/admin/tenants/nobody/overrides/can_use_webhooks', {
      value: true,
      reason: 'x',
    });
    expect(tenant.statusCode).toBe(404);
    expect(tenant.json().error).toContain('nobody');
    for (const method of ['GET', 'DELETE'] as const) {
      const unknown = await inject(method, '/api/admin/tenants/acme/overrides/can_fly');
      expect({ method, status: unknown.statusCode, body: unknown.json() }).toEqual({
        method,
        status: 404,
        body: { code: 'ENT_ERR_FEATURE_NOT_FOUND', error: 'Feature "can_fly" is not in the policy' },
      });
      const none = await inject(method, '/api/admin/tenants/acme/overrides/can_use_webhooks');
      expect({ method, status: none.statusCode, body: none.json() }).toEqual({
        method,
        status: 404,
        body: {
          code: 'ENT_ERR_OVERRIDE_NOT_FOUND',
          error: 'Tenant "acme" has no override for feature "can_use_webhooks"',
        },
      });
    }
  });

  it('an override left from an older policy can still be read and removed', async () => {
    await h.t.app.entitle.store.overrides.set(
      { tenantId: 'acme', feature: 'can_use_fax', value: true, reason: 'legacy', expiresAt: null },
      { actor: 'test:old-policy' },
    );
    expect((await inject('GET', '/api/admin/tenants/acme/overrides/can_use_fax')).json()).toMatchObject({
      feature: 'can_use_fax',
      reason: 'legacy',
    });
    expect((await inject('DELETE', '/api/admin/tenants/acme/overrides/can_use_fax')).statusCode).toBe(200);
    expect((await inject('GET', '/api/admin/tenants/acme/overrides/can_use_fax')).json().code).toBe(
      'ENT_ERR_FEATURE_NOT_FOUND',
    );
  });

  it.each([-5, 1e308, 2.5])('refuses %s booking pages: the starter policy bounds the count', async (value) => {
    const response = await inject('PUT', '/api/admin/tenants/acme/overrides/max_booking_pages', {
      value,
      reason: 'test',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatch(/^value: /);
    expect((await inject('GET', '/api/admin/tenants/acme/overrides/max_booking_pages')).statusCode).toBe(404);
  });

  it('refuses a number that is not finite', async () => {
    const response = await inject(
      'PUT',
      '/api/admin/tenants/acme/overrides/max_connected_calendars',
      '{"value": 1e999, "reason": "unlimited"}',
      { 'content-type': 'application/json' },
    );
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ code: 'ENT_ERR_INVALID_INPUT', error: 'value: must be a finite number' });
  });

  it('each change is audited with before and after and the actor from the token', async () => {
    await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', { value: 3, reason: 'pilot' });
    await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', {
      value: 5,
      reason: 'pilot grows',
    });
    await inject('DELETE', '/api/admin/tenants/acme/overrides/max_connected_calendars');
    const rows = (await inject('GET', '/api/admin/audit?tenant=acme&action=override.set')).json().items;
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ actor: 'user:olivia@ops', details: { before: { value: 3 }, after: { value: 5 } } });
    const cleared = (await inject('GET', '/api/admin/audit?tenant=acme&action=override.clear')).json().items;
    expect(cleared[0].details.before).toMatchObject({ value: 5 });
  });

  it('the decision follows the override on the next request', async () => {
    const user = await h.t.token('acme', 'alice');
    const before = (await h.t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: h.t.auth(user) })).json();
    expect(before.features.can_use_webhooks.enabled).toBe(false);
    await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_webhooks', { value: true, reason: 'pilot' });
    const after = (await h.t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: h.t.auth(user) })).json();
    expect(after.features.can_use_webhooks).toMatchObject({ enabled: true, value: true, cause: 'GRANTED_BY_OVERRIDE' });
  });
});

describe('overrides across tenants', () => {
  beforeEach(async () => {
    const ops = h.t.app.entitle.operations;
    for (const id of ['acme', 'beta', 'corp']) await ops.createTenant({ id, plan: 'free' }, { actor: 'test' });
    await ops.setOverride(
      { tenantId: 'acme', feature: 'can_use_webhooks', value: true, reason: 'pilot' },
      { actor: 'test' },
    );
    await ops.setOverride(
      { tenantId: 'acme', feature: 'max_team_members', value: 5, reason: 'team' },
      { actor: 'test' },
    );
    await ops.setOverride(
      { tenantId: 'beta', feature: 'can_use_webhooks', value: true, reason: 'partner' },
      { actor: 'test' },
    );
    await ops.setOverride(
      { tenantId: 'corp', feature: 'can_use_sso', value: true, reason: 'deal', expiresAt: '2030-06-01T00:00:00Z' },
      { actor: 'test' },
    );
  });
  const keys = (body: { items: { tenantId: string; feature: string }[] }) =>
    body.items.map((item) => `${item.tenantId}:${item.feature}`);

  it('lists every override by tenant then feature, a page at a time', async () => {
    const first = (await inject('GET', '/api/admin/overrides?limit=3')).json();
    expect(keys(first)).toEqual(['acme:can_use_webhooks', 'acme:max_team_members', 'beta:can_use_webhooks']);
    expect(first.nextCursor).toBe('beta:can_use_webhooks');
    const second = (await inject('GET', `/api/admin/overrides?limit=3&after=${first.nextCursor}`)).json();
    expect(second).toEqual({
      items: [
        {
          tenantId: 'corp',
          feature: 'can_use_sso',
          value: true,
          reason: 'deal',
          actor: 'test',
          expiresAt: '2030-06-01T00:00:00.000Z',
          createdAt: '2030-01-01T00:00:00.000Z',
          updatedAt: '2030-01-01T00:00:00.000Z',
          version: 1,
          active: true,
        },
      ],
    });
  });

  it('filters by tenant or feature', async () => {
    expect(keys((await inject('GET', '/api/admin/overrides?feature=can_use_webhooks')).json())).toEqual([
      'acme:can_use_webhooks',
      'beta:can_use_webhooks',
    ]);
    expect(keys((await inject('GET', '/api/admin/overrides?tenant=acme&limit=1')).json())).toEqual([
      'acme:can_use_webhooks',
    ]);
    expect((await inject('GET', '/api/admin/overrides?tenant=nobody')).json()).toEqual({ items: [] });
    const bad = await inject('GET', '/api/admin/overrides?after=not-a-cursor');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/^querystring\.after/);
  });
});
