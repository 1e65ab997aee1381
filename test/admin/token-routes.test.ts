// What the CLI does with tokens, audit verification and key rotation, over the admin API.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let admin: { authorization: string };
beforeEach(async () => {
  t = await buildTestApp();
  admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
  await t.app.entitle.operations.createTenant({ id: 'acme', plan: 'pro' }, { actor: 'test' });
});
afterEach(() => t.close());

describe('tokens over the admin API', () => {
  it('creates a token shown once, lists it without its secret, and revokes it at once', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/admin/tokens',
      headers: admin,
      payload: { tenantId: 'acme', userId: 'carol', name: 'ci' },
    });
    expect(created.statusCode).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    const { token, record } = created.json();
    expect(token).toMatch(/^ent_[0-9a-f]{12}_/);
    expect(record).toMatchObject({ tenantId: 'acme', userId: 'carol', role: 'member', name: 'ci', revokedAt: null });
    const works = await t.app.inject({
      method: 'GET',
      url: '/api/entitlements/',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(works.json().tenant).toBe('acme');

    const listed = await t.app.inject({ method: 'GET', url: '/api/admin/tokens?tenant=acme', headers: admin });
    expect(listed.json().items.map((item: { id: string }) => item.id)).toEqual([record.id]);
    expect(listed.body).not.toContain(token.slice(17));

    const revoked = await t.app.inject({ method: 'DELETE', url: `/api/admin/tokens/${record.id}`, headers: admin });
    expect(revoked.json().revokedAt).toEqual(expect.any(String));
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: { authorization: `Bearer ${token}` } }))
        .statusCode,
    ).toBe(401);
    expect(
      (await t.app.inject({ method: 'DELETE', url: '/api/admin/tokens/000000000000', headers: admin })).statusCode,
    ).toBe(404);
  });

  it('refuses an unknown tenant, a bad role and a past expiry, naming the field', async () => {
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/admin/tokens',
          headers: admin,
          payload: { tenantId: 'nobody', userId: 'x' },
        })
      ).json().error,
    ).toContain('nobody');
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/admin/tokens',
          headers: admin,
          payload: { tenantId: 'acme', userId: 'x', role: 'root' },
        })
      ).json(),
    ).toEqual({
      code: 'ENT_ERR_VALIDATION',
      error: 'body.role: must be one of member, admin, client, service',
    });
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/admin/tokens',
          headers: admin,
          payload: { tenantId: 'acme', userId: 'x', expiresAt: '2001-01-01T00:00:00Z' },
        })
      ).json().error,
    ).toMatch(/expiresAt/);
  });
});

describe('the client role', () => {
  it('reads decisions for any tenant through the Unleash client API and OFREP, and nothing else', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/admin/tokens',
      headers: admin,
      payload: { tenantId: 'ops', userId: 'unleash-sdk', role: 'client', name: 'billing service' },
    });
    expect(created.statusCode).toBe(201);
    const { token, record } = created.json();
    expect(record).toMatchObject({ role: 'client', tenantId: 'ops', name: 'billing service' });
    const sdk = { authorization: token };
    expect((await t.app.inject({ method: 'GET', url: '/api/client/features', headers: sdk })).statusCode).toBe(200);
    const ofrep = await t.app.inject({
      method: 'POST',
      url: '/ofrep/v1/evaluate/flags/can_use_calendar_sync',
      headers: sdk,
      payload: { context: { tenantId: 'acme' } },
    });
    expect(ofrep.json()).toMatchObject({ value: true, metadata: { plan: 'pro' } });
    const refused = await t.app.inject({ method: 'DELETE', url: '/api/admin/tenants/acme', headers: sdk });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('ENT_ERR_ADMIN_REQUIRED');
    expect(await t.app.entitle.store.tenants.get('acme')).toBeDefined();
  });
});

describe('audit verification and key rotation over the admin API', () => {
  it('verifies the chain and re-encrypts under the active key', async () => {
    const verified = await t.app.inject({ method: 'GET', url: '/api/admin/audit/verify', headers: admin });
    const result = verified.json();
    expect(result).toEqual({
      ok: true,
      checked: expect.any(Number),
      head: { seq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    // The head kept elsewhere is the next check's anchor; a wrong one is reported.
    const anchored = await t.app.inject({
      method: 'GET',
      url: `/api/admin/audit/verify?anchor=${result.head.seq}:${result.head.hash}`,
      headers: admin,
    });
    expect(anchored.json()).toMatchObject({ ok: true });
    const wrong = await t.app.inject({
      method: 'GET',
      url: `/api/admin/audit/verify?anchor=${result.head.seq}:${'0'.repeat(64)}`,
      headers: admin,
    });
    expect(wrong.json()).toMatchObject({ ok: false, firstBroken: { seq: result.head.seq } });
    const rotated = await t.app.inject({ method: 'POST', url: '/api/admin/keys/rotate', headers: admin });
    expect(rotated.json()).toEqual({ reencrypted: 0, activeKeyId: expect.any(String) });
    const audit = await t.app.inject({ method: 'GET', url: '/api/admin/audit?action=keys.rotate', headers: admin });
    expect(audit.json().items).toHaveLength(1);
  });
});
