// The admin API: tenants, overrides with ETag/If-Match, entitlements with why, audit, policy,
// admin-only access and rate limits.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let admin: { authorization: string };
let now: number;
beforeEach(async () => {
  now = Date.parse('2030-01-01T00:00:00Z');
  t = await buildTestApp({ clock: () => now, env: { ENTITLE_RATE_LIMIT_ADMIN: '1000' } });
  admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
});
afterEach(() => t.close());

const inject = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as object }), headers: { ...admin, ...headers } });

describe('access', () => {
  const routes = [
    ['GET', '/api/admin/tenants'],
    ['POST', '/api/admin/tenants'],
    ['GET', '/api/admin/tenants/ops'],
    ['PATCH', '/api/admin/tenants/ops'],
    ['DELETE', '/api/admin/tenants/ops'],
    ['GET', '/api/admin/tenants/ops/entitlements'],
    ['GET', '/api/admin/tenants/ops/overrides'],
    ['GET', '/api/admin/tenants/ops/overrides/can_use_webhooks'],
    ['PUT', '/api/admin/tenants/ops/overrides/can_use_webhooks'],
    ['DELETE', '/api/admin/tenants/ops/overrides/can_use_webhooks'],
    ['GET', '/api/admin/audit'],
    ['GET', '/api/admin/policy'],
    ['POST', '/api/admin/policy/validate'],
  ] as const;

  it.each(routes)('%s %s is 403 for a tenant token and 401 without one', async (method, url) => {
    const member = await t.token('ops', 'mike');
    const forbidden = await t.app.inject({ method, url, headers: t.auth(member), payload: {} });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('ENT_ERR_ADMIN_REQUIRED');
    expect((await t.app.inject({ method, url, payload: {} })).statusCode).toBe(401);
  });
});

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
    expect((await inject('PATCH', '/api/admin/tenants/nobody', { plan: 'pro' })).json()).toMatchObject({ code: 'ENT_ERR_TENANT_NOT_FOUND', error: expect.stringContaining('nobody') });
  });

  it("deleting a tenant removes its overrides and tokens in one go; its audit rows stay", async () => {
    await inject('POST', '/api/admin/tenants', { id: 'gone', plan: 'free' });
    await inject('PUT', '/api/admin/tenants/gone/overrides/can_use_webhooks', { value: true, reason: 'pilot' });
    const token = await t.token('gone', 'u1');
    expect((await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) })).statusCode).toBe(200);
    expect((await inject('DELETE', '/api/admin/tenants/gone')).statusCode).toBe(200);
    expect(await t.app.entitle.store.overrides.list({ tenantId: 'gone' })).toEqual([]);
    expect((await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) })).statusCode).toBe(401);
    const audit = (await inject('GET', '/api/admin/audit?tenant=gone')).json().items.map((row: { action: string }) => row.action);
    expect(audit).toEqual(expect.arrayContaining(['tenant.delete', 'override.set', 'tenant.create']));
  });
});

describe('overrides', () => {
  beforeEach(async () => {
    await inject('POST', '/api/admin/tenants', { id: 'acme', plan: 'free' });
  });

  it('sets, reads (with ETag), replaces with If-Match, refuses a stale If-Match (412) and deletes', async () => {
    const created = await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_calendar_sync', { value: true, reason: 'trial', expiresAt: '2030-02-01T00:00:00Z' });
    expect(created.statusCode).toBe(201);
    expect(created.headers.etag).toBe('"1"');
    expect(created.json()).toMatchObject({ tenantId: 'acme', feature: 'can_use_calendar_sync', value: true, reason: 'trial', actor: 'user:olivia@ops', expiresAt: '2030-02-01T00:00:00.000Z', version: 1, active: true });

    const read = await inject('GET', '/api/admin/tenants/acme/overrides/can_use_calendar_sync');
    expect(read.headers.etag).toBe('"1"');
    const replaced = await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_calendar_sync', { value: true, reason: 'trial extended' }, { 'if-match': '"1"' });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.headers.etag).toBe('"2"');

    const stale = await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_calendar_sync', { value: false, reason: 'late' }, { 'if-match': '"1"' });
    expect(stale.statusCode).toBe(412);
    expect(stale.json().error).toMatch(/ETag/);
    expect((await inject('GET', '/api/admin/tenants/acme/overrides/can_use_calendar_sync')).json()).toMatchObject({ value: true, reason: 'trial extended', version: 2 });

    expect((await inject('DELETE', '/api/admin/tenants/acme/overrides/can_use_calendar_sync?reason=trial%20over', undefined, { 'if-match': '"1"' })).statusCode).toBe(412);
    expect((await inject('DELETE', '/api/admin/tenants/acme/overrides/can_use_calendar_sync?reason=trial%20over', undefined, { 'if-match': '"2"' })).statusCode).toBe(200);
    expect((await inject('GET', '/api/admin/tenants/acme/overrides/can_use_calendar_sync')).statusCode).toBe(404);
  });

  it('If-Match "0" creates only when there is no override yet', async () => {
    expect((await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_webhooks', { value: true, reason: 'a' }, { 'if-match': '"0"' })).statusCode).toBe(201);
    expect((await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_webhooks', { value: true, reason: 'b' }, { 'if-match': '"0"' })).statusCode).toBe(412);
  });

  it('checks the value against the feature type and names what is wrong', async () => {
    const wrongType = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', { value: 'lots', reason: 'x' });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().error).toMatch(/^value/);
    const noReason = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', { value: 3 });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().error).toMatch(/reason/);
    const past = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', { value: 3, reason: 'x', expiresAt: '2020-01-01T00:00:00Z' });
    expect(past.json().error).toMatch(/expiresAt/);
    const badEtag = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', { value: 3, reason: 'x' }, { 'if-match': 'yesterday' });
    expect(badEtag.statusCode).toBe(400);
    expect(badEtag.json().error).toMatch(/If-Match/);
    expect(await t.app.entitle.store.overrides.list({ tenantId: 'acme' })).toEqual([]);
  });

  it('takes JSON types as they are: 1 stays a number, true stays a boolean, unknown fields are refused', async () => {
    const one = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', { value: 1, reason: 'x' });
    expect(one.statusCode).toBe(201);
    expect(one.json().value).toBe(1);
    const yes = await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', { value: true, reason: 'x' });
    expect(yes.statusCode).toBe(400);
    const text = await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_webhooks', { value: 'true', reason: 'x' });
    expect(text.statusCode).toBe(400);
    const extra = await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_webhooks', { value: true, reason: 'x', tenantId: 'other' });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error).toBe('body.tenantId: unknown field');
  });

  it('an unknown feature or tenant is 404 naming it', async () => {
    const feature = await inject('PUT', '/api/admin/tenants/acme/overrides/can_fly', { value: true, reason: 'x' });
    expect(feature.statusCode).toBe(404);
    expect(feature.json().error).toContain('can_fly');
    const tenant = await inject('PUT', '/api/admin/tenants/nobody/overrides/can_use_webhooks', { value: true, reason: 'x' });
    expect(tenant.statusCode).toBe(404);
    expect(tenant.json().error).toContain('nobody');
  });

  it('each change is audited with before and after and the actor from the token', async () => {
    await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', { value: 3, reason: 'pilot' });
    await inject('PUT', '/api/admin/tenants/acme/overrides/max_connected_calendars', { value: 5, reason: 'pilot grows' });
    await inject('DELETE', '/api/admin/tenants/acme/overrides/max_connected_calendars');
    const rows = (await inject('GET', '/api/admin/audit?tenant=acme&action=override.set')).json().items;
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ actor: 'user:olivia@ops', details: { before: { value: 3 }, after: { value: 5 } } });
    const cleared = (await inject('GET', '/api/admin/audit?tenant=acme&action=override.clear')).json().items;
    expect(cleared[0].details.before).toMatchObject({ value: 5 });
  });

  it('the decision follows the override on the next request', async () => {
    const user = await t.token('acme', 'alice');
    const before = (await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(user) })).json();
    expect(before.features.can_use_webhooks.enabled).toBe(false);
    await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_webhooks', { value: true, reason: 'pilot' });
    const after = (await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(user) })).json();
    expect(after.features.can_use_webhooks).toMatchObject({ enabled: true, value: true, cause: 'GRANTED_BY_OVERRIDE' });
  });
});

describe('entitlements of a tenant', () => {
  it('resolves every feature with value, source, plan and why', async () => {
    await inject('POST', '/api/admin/tenants', { id: 'acme', plan: 'pro' });
    await inject('PUT', '/api/admin/tenants/acme/overrides/can_use_sms_reminders', { value: false, reason: 'carrier issue' });
    const response = await inject('GET', '/api/admin/tenants/acme/entitlements');
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ tenant: 'acme', plan: 'pro' });
    const byKey = Object.fromEntries(body.features.map((f: { feature: string }) => [f.feature, f]));
    expect(byKey.can_use_calendar_sync).toMatchObject({ value: true, source: 'plan', cause: 'IN_PLAN', plan: 'pro', definedBy: 'pro' });
    expect(byKey.can_use_sms_reminders).toMatchObject({ value: false, source: 'override', cause: 'REVOKED_BY_OVERRIDE', override: { reason: 'carrier issue', actor: 'user:olivia@ops' } });
    expect(byKey.can_use_webhooks).toMatchObject({ value: false, cause: 'NOT_IN_PLAN', requiredPlan: 'business', upgradeMessage: expect.any(String) });
    expect(byKey.max_connected_calendars).toMatchObject({ value: 2, definedBy: 'pro' });
    expect((await inject('GET', '/api/admin/tenants/nobody/entitlements')).statusCode).toBe(404);
  });
});

describe('audit', () => {
  it('filters by tenant, action and time, newest first, a page at a time', async () => {
    for (const id of ['a1', 'a2', 'a3']) {
      await inject('POST', '/api/admin/tenants', { id, plan: 'free' });
      now += 60_000;
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
});

describe('policy', () => {
  it('shows the policy in force', async () => {
    const body = (await inject('GET', '/api/admin/policy')).json();
    expect(body.version).toEqual(expect.any(String));
    expect(body.lastError).toBeNull();
    expect(body.features.map((f: { key: string }) => f.key)).toContain('can_use_calendar_sync');
    expect(body.plans.find((p: { key: string }) => p.key === 'pro').values.max_connected_calendars).toEqual({ value: 2, definedBy: 'pro' });
  });

  it('validates a YAML body without applying it, with positions', async () => {
    const broken = 'plans:\n  pro:\n    extends: gold\n    features:\n      can_use_webhooks: "yes"\n';
    const response = await t.app.inject({ method: 'POST', url: '/api/admin/policy/validate?file=plans.yaml', payload: broken, headers: { ...admin, 'content-type': 'application/yaml' } });
    expect(response.statusCode).toBe(422);
    const texts = response.json().issues.map((issue: { text: string }) => issue.text);
    expect(texts).toEqual(expect.arrayContaining([expect.stringMatching(/^plans\.yaml:3:\d+: .*gold/), expect.stringMatching(/^plans\.yaml:5:\d+: /)]));
    const before = (await inject('GET', '/api/admin/policy')).json().version;
    expect(before).toBe(t.app.entitle.policy.snapshot.version);
  });

  it('reports the impact of a valid proposal on real tenants', async () => {
    for (let i = 0; i < 3; i++) await inject('POST', '/api/admin/tenants', { id: `p${i}`, plan: 'pro' });
    await inject('PUT', '/api/admin/tenants/p0/overrides/can_use_sms_reminders', { value: true, reason: 'keeps it' });
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const plans = await readFile(join(t.app.entitle.config.policyDirectory, 'plans.yaml'), 'utf8');
    // Pro loses SMS reminders and gets one more calendar.
    const proposed = plans.replace('      can_use_sms_reminders: true\n', '').replace('      max_connected_calendars: 2\n', '      max_connected_calendars: 3\n');
    expect(proposed).not.toBe(plans);
    const response = await t.app.inject({ method: 'POST', url: '/api/admin/policy/validate?file=plans.yaml', payload: proposed, headers: { ...admin, 'content-type': 'application/yaml' } });
    expect(response.statusCode, response.body).toBe(200);
    const { impact } = response.json();
    expect(impact.revokes).toBe(true);
    const sms = impact.features.find((f: { feature: string }) => f.feature === 'can_use_sms_reminders');
    expect(sms).toMatchObject({ revoked: 2, byPlan: { pro: { revoked: 2 } } });
    expect(sms.summary).toContain('revokes can_use_sms_reminders from 2 tenants on plan pro');
    const calendars = impact.features.find((f: { feature: string }) => f.feature === 'max_connected_calendars');
    expect(calendars).toMatchObject({ changed: 3 });
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After past the admin limit', async () => {
    const limited = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_ADMIN: '3' } });
    try {
      const headers = limited.auth(await limited.token('ops', 'olivia', { role: 'admin' }));
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await limited.app.inject({ method: 'GET', url: '/api/admin/tenants', headers })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const last = await limited.app.inject({ method: 'GET', url: '/api/admin/tenants', headers });
      expect(last.json()).toMatchObject({ code: 'ENT_ERR_RATE_LIMITED' });
      expect(Number(last.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});

describe('docs', () => {
  it('serves an OpenAPI document with the admin routes and interactive docs at /docs', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/api/admin/tenants/{tenant}/overrides/{feature}', '/api/admin/audit', '/api/entitlements/']));
    expect((await t.app.inject({ method: 'GET', url: '/docs/' })).statusCode).toBe(200);
  });
});
