// The admin API of webhook endpoints: registration with a secret shown once, safe targets only,
// known event types only, the per-principal budget, changes, removal and rotation.

import { describe, expect, it } from 'vitest';
import { useAdminApp } from '../admin/admin-app.js';
import { buildTestApp, NO_RATE_LIMITS } from '../support/app.js';

describe('/api/admin/webhooks', () => {
  const h = useAdminApp();
  const create = (payload: Record<string, unknown>) => h.inject('POST', '/api/admin/webhooks', payload);

  describe('POST', () => {
    it('registers an endpoint and shows its whsec_ secret once', async () => {
      const res = await create({
        url: 'https://receiver.test/hooks',
        events: ['entitlements.changed', 'tenant.created'],
        description: 'CRM sync',
      });
      expect(res.statusCode).toBe(201);
      const body = res.json();
      expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(body.endpoint).toEqual({
        id: expect.stringMatching(/^ep_/),
        url: 'https://receiver.test/hooks',
        events: ['entitlements.changed', 'tenant.created'],
        description: 'CRM sync',
        enabled: true,
        disabledAt: null,
        disabledReason: null,
        failureStreak: 0,
        previousSecretUntil: null,
        createdBy: expect.stringContaining('olivia'),
        createdAt: '2030-01-01T00:00:00.000Z',
        updatedAt: '2030-01-01T00:00:00.000Z',
      });
      const listed = await h.inject('GET', '/api/admin/webhooks');
      expect(listed.json()).toEqual({ items: [body.endpoint] });
      expect(listed.body).not.toContain(body.secret);
      const one = await h.inject('GET', `/api/admin/webhooks/${body.endpoint.id}`);
      expect(one.json()).toEqual(body.endpoint);
      const audit = await h.t.app.entitle.store.audit.list({ action: 'webhook.create' });
      expect(JSON.stringify(audit.items)).not.toContain(body.secret);
    });

    it.each([
      ['http://169.254.169.254/latest/meta-data/', 'url: must be an https URL'],
      [
        'https://169.254.169.254/latest/meta-data/',
        'url: must not point to a private, loopback, link-local or metadata address',
      ],
      ['https://127.0.0.1:8443/hooks', 'url: must not point to a private, loopback, link-local or metadata address'],
      ['https://localhost/hooks', 'url: must not point to a private, loopback, link-local or metadata address'],
      ['https://[::1]/hooks', 'url: must not point to a private, loopback, link-local or metadata address'],
      ['https://[::ffff:10.0.0.1]/hooks', 'url: must not point to a private, loopback, link-local or metadata address'],
      ['https://10.1.2.3/hooks', 'url: must not point to a private, loopback, link-local or metadata address'],
      [
        'https://metadata.google.internal/computeMetadata/v1/',
        'url: must not point to a private, loopback, link-local or metadata address',
      ],
      ['https://user:pw@receiver.test/', 'url: must not carry credentials'],
      ['not a url', 'url: must be an absolute https URL'],
    ])('refuses %s with 400 and stores nothing', async (url, error) => {
      const res = await create({ url, events: ['tenant.created'] });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ error, code: 'ENT_ERR_INVALID_INPUT' });
      expect((await h.inject('GET', '/api/admin/webhooks')).json()).toEqual({ items: [] });
    });

    it('refuses an unknown event type and an empty list, naming the field', async () => {
      const unknown = await create({ url: 'https://receiver.test/', events: ['tenant.renamed'] });
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json().error).toContain('events');
      const empty = await create({ url: 'https://receiver.test/', events: [] });
      expect(empty.statusCode).toBe(400);
      expect(empty.json().error).toContain('events');
    });

    it('keeps each principal to its budget of endpoints', async () => {
      const t = await buildTestApp({ env: { ...NO_RATE_LIMITS, ENTITLE_WEBHOOKS_MAX_ENDPOINTS: '2' } });
      try {
        const olivia = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
        const oscar = t.auth(await t.token('ops', 'oscar', { role: 'admin' }));
        const post = (headers: { authorization: string }) =>
          t.app.inject({
            method: 'POST',
            url: '/api/admin/webhooks',
            headers,
            payload: { url: 'https://receiver.test/', events: ['tenant.created'] },
          });
        expect((await post(olivia)).statusCode).toBe(201);
        expect((await post(olivia)).statusCode).toBe(201);
        const third = await post(olivia);
        expect(third.statusCode).toBe(403);
        expect(third.json()).toEqual({
          error: 'You have registered 2 webhook endpoints, the most one principal may; remove one first',
          code: 'ENT_ERR_WEBHOOK_LIMIT',
        });
        expect((await post(oscar)).statusCode).toBe(201);
      } finally {
        await t.close();
      }
    });

    it('refuses a member token', async () => {
      const member = h.t.auth(await h.t.token('acme', 'mia'));
      const res = await h.inject(
        'POST',
        '/api/admin/webhooks',
        { url: 'https://receiver.test/', events: ['tenant.created'] },
        member,
      );
      expect(res.statusCode).toBe(403);
    });
  });

  describe('with private targets allowed (ENTITLE_WEBHOOKS_ALLOW_PRIVATE=true)', () => {
    it('accepts a loopback http URL', async () => {
      const t = await buildTestApp({ env: { ...NO_RATE_LIMITS, ENTITLE_WEBHOOKS_ALLOW_PRIVATE: 'true' } });
      try {
        const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/admin/webhooks',
          headers: admin,
          payload: { url: 'http://127.0.0.1:9/hooks', events: ['tenant.created'] },
        });
        expect(res.statusCode).toBe(201);
      } finally {
        await t.close();
      }
    });
  });

  describe('PATCH, DELETE and rotate-secret', () => {
    it('changes events and description, disables and enables again', async () => {
      const { endpoint } = (await create({ url: 'https://receiver.test/', events: ['tenant.created'] })).json();
      const changed = await h.inject('PATCH', `/api/admin/webhooks/${endpoint.id}`, {
        events: ['tenant.deleted'],
        description: 'audit',
        enabled: false,
      });
      expect(changed.statusCode).toBe(200);
      expect(changed.json()).toMatchObject({
        events: ['tenant.deleted'],
        description: 'audit',
        enabled: false,
        disabledReason: expect.stringContaining('olivia'),
      });
      const enabled = await h.inject('PATCH', `/api/admin/webhooks/${endpoint.id}`, { enabled: true });
      expect(enabled.json()).toMatchObject({ enabled: true, disabledAt: null, disabledReason: null });
      const unsafe = await h.inject('PATCH', `/api/admin/webhooks/${endpoint.id}`, { url: 'https://10.0.0.1/' });
      expect(unsafe.statusCode).toBe(400);
      expect((await h.inject('GET', `/api/admin/webhooks/${endpoint.id}`)).json().url).toBe('https://receiver.test/');
    });

    it('removes an endpoint, then answers 404 for it', async () => {
      const { endpoint } = (await create({ url: 'https://receiver.test/', events: ['tenant.created'] })).json();
      expect((await h.inject('DELETE', `/api/admin/webhooks/${endpoint.id}`)).statusCode).toBe(204);
      const gone = await h.inject('GET', `/api/admin/webhooks/${endpoint.id}`);
      expect(gone.statusCode).toBe(404);
      expect(gone.json()).toEqual({
        error: `Webhook endpoint "${endpoint.id}" not found`,
        code: 'ENT_ERR_WEBHOOK_NOT_FOUND',
      });
      expect((await h.inject('DELETE', `/api/admin/webhooks/${endpoint.id}`)).statusCode).toBe(404);
    });

    it('rotates the secret: a new one shown once, the old one signing until the overlap ends (24 h)', async () => {
      const first = (await create({ url: 'https://receiver.test/', events: ['tenant.created'] })).json();
      const res = await h.inject('POST', `/api/admin/webhooks/${first.endpoint.id}/rotate-secret`);
      expect(res.statusCode).toBe(200);
      expect(res.json().secret).toMatch(/^whsec_/);
      expect(res.json().secret).not.toBe(first.secret);
      expect(res.json().endpoint.previousSecretUntil).toBe('2030-01-02T00:00:00.000Z');
    });
  });
});
