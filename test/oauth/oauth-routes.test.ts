// OAuth initiation and callback for both providers against the fakes: the gate applies only to
// purpose "calendar"; state is single-use, short-lived and bound to tenant, user, provider and
// purpose; PKCE S256; the calendar limit; provider failures store nothing.

import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/app.js';
import type { TestApp } from '../support/app.js';
import { buildCalendarApp, connectCalendar, PROVIDERS, startFakes, type Fakes } from '../support/calendar.js';
import { CALENDAR_SYNC_NOT_IN_PLAN } from '../support/denials.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';

let fakes: Fakes;
beforeAll(async () => {
  fakes = await startFakes();
});
afterAll(() => fakes.close());

describe.each(PROVIDERS)('OAuth with %s', (provider) => {
  let t: TestApp;
  let now = Date.parse('2026-11-25T10:00:00Z');
  const fake = () => fakes[provider];
  const initiateUrl = `/api/oauth/${provider}/initiate/`;
  const callbackUrl = `/api/oauth/${provider}/callback/`;
  beforeEach(async () => {
    now = Date.now();
    t = await buildCalendarApp(fakes, { clock: () => now });
  });
  afterEach(() => t.close());

  describe('initiation permissions', () => {
    it('without credentials is 401', async () => {
      const response = await t.app.inject({ method: 'POST', url: initiateUrl, payload: { purpose: 'calendar' } });
      expect(response.statusCode).toBe(401);
      expect(response.json().error).toBe('Authentication required');
    });

    it('purpose "calendar" for a tenant without the feature is 403 with the upgrade message', async () => {
      const token = await t.token('acme', 'alice', { plan: 'free' });
      const response = await t.app.inject({
        method: 'POST',
        url: initiateUrl,
        headers: t.auth(token),
        payload: { purpose: 'calendar' },
      });
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({
        error: 'Feature not available',
        feature: 'can_use_calendar_sync',
        featureName: 'Calendar Sync',
        message: expect.stringMatching(/upgrade/i),
      });
      expect((await t.app.entitle.store.audit.list({ tenantId: 'acme', action: 'oauth.initiate' })).items).toHaveLength(
        0,
      );
    });

    it('another purpose is not gated', async () => {
      const token = await t.token('acme', 'alice', { plan: 'free' });
      const response = await t.app.inject({
        method: 'POST',
        url: initiateUrl,
        headers: t.auth(token),
        payload: { purpose: 'login' },
      });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toMatchObject({
        authorizationUrl: expect.stringMatching(/^https?:\/\/127\.0\.0\.1/),
        state: expect.any(String),
      });
    });

    it('purpose "calendar" for a tenant with the feature returns an authorization URL with PKCE S256 and the state', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const response = await t.app.inject({
        method: 'POST',
        url: initiateUrl,
        headers: t.auth(token),
        payload: { purpose: 'calendar' },
      });
      expect(response.statusCode).toBe(200);
      const { authorizationUrl, state } = response.json();
      const query = new URL(authorizationUrl).searchParams;
      expect(query.get('state')).toBe(state);
      expect(query.get('code_challenge_method')).toBe('S256');
      expect(query.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(query.get('client_id')).toBe(
        fake().env[provider === 'google' ? 'GOOGLE_CLIENT_ID' : 'MICROSOFT_CLIENT_ID'],
      );
      expect(state).toMatch(/^[A-Za-z0-9_-]{32,}$/);
      // Only a hash of the state is stored.
      const audit = (await t.app.entitle.store.audit.list({ tenantId: 'acme', action: 'oauth.initiate' })).items;
      expect(audit).toHaveLength(1);
      expect(JSON.stringify(audit)).not.toContain(state);
    });

    it('a missing or malformed purpose is 400 naming the field', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const missing = await t.app.inject({ method: 'POST', url: initiateUrl, headers: t.auth(token), payload: {} });
      expect(missing.statusCode).toBe(400);
      expect(missing.json().error).toMatch(/purpose/);
      const wrong = await t.app.inject({
        method: 'POST',
        url: initiateUrl,
        headers: t.auth(token),
        payload: { purpose: 42 },
      });
      expect(wrong.statusCode).toBe(400);
      expect(wrong.json().error).toMatch(/purpose/);
    });

    it('a redirect URI that is not allowed is 400', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const response = await t.app.inject({
        method: 'POST',
        url: initiateUrl,
        headers: t.auth(token),
        payload: { purpose: 'calendar', redirectUri: 'https://evil.example/cb' },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toMatch(/redirectUri/);
    });
  });

  describe('callback', () => {
    async function initiate(token: string, purpose = 'calendar'): Promise<{ authorizationUrl: string; state: string }> {
      const response = await t.app.inject({
        method: 'POST',
        url: initiateUrl,
        headers: t.auth(token),
        payload: { purpose },
      });
      expect(response.statusCode, response.body).toBe(200);
      return response.json();
    }

    it('exchanges the code with the PKCE verifier and stores the connection with encrypted tokens', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const { authorizationUrl } = await initiate(token);
      const { code, state } = fake().authorize(authorizationUrl, { email: `cb-${provider}@example.com` });
      const response = await t.app.inject({
        method: 'GET',
        url: `${callbackUrl}?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`,
        headers: t.auth(token),
      });
      expect(response.statusCode, response.body).toBe(201);
      const { connection } = response.json();
      expect(connection).toMatchObject({
        provider,
        purpose: 'calendar',
        accountEmail: `cb-${provider}@example.com`,
        status: 'valid',
      });
      const stored = await t.app.entitle.store.connections.tokens('acme', connection.id);
      const [accessToken] = fake().validAccessTokens().slice(-1);
      expect(stored?.accessToken).toMatch(/^v1\./);
      expect(stored?.accessToken).not.toContain(accessToken);
      expect(response.body).not.toContain(accessToken);
      const audit = (await t.app.entitle.store.audit.list({ tenantId: 'acme', action: 'connection.create' })).items;
      expect(audit.map((row) => row.outcome)).toEqual(['success']);
    });

    it('a replayed state is rejected', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const { authorizationUrl } = await initiate(token);
      const { code, state } = fake().authorize(authorizationUrl);
      expect(
        (await t.app.inject({ method: 'POST', url: callbackUrl, headers: t.auth(token), payload: { code, state } }))
          .statusCode,
      ).toBe(201);
      const replay = await t.app.inject({
        method: 'POST',
        url: callbackUrl,
        headers: t.auth(token),
        payload: { code, state },
      });
      expect(replay.statusCode).toBe(400);
      expect(replay.json().error).toMatch(/state/i);
    });

    it('an expired state is rejected and nothing is stored', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const { authorizationUrl } = await initiate(token);
      const { code, state } = fake().authorize(authorizationUrl);
      now += 11 * 60_000;
      const response = await t.app.inject({
        method: 'POST',
        url: callbackUrl,
        headers: t.auth(token),
        payload: { code, state },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toMatch(/expired/i);
      expect(await t.app.entitle.store.connections.list('acme')).toHaveLength(0);
    });

    it('an unknown state is rejected', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const response = await t.app.inject({
        method: 'POST',
        url: callbackUrl,
        headers: t.auth(token),
        payload: { code: 'x', state: 'not-a-state-we-issued' },
      });
      expect(response.statusCode).toBe(400);
    });

    it('a state is bound to the user and tenant that started the flow', async () => {
      const alice = await t.token('acme', 'alice', { plan: 'pro' });
      const bob = await t.token('acme', 'bob');
      const mallory = await t.token('globex', 'mallory', { plan: 'pro' });
      const { authorizationUrl } = await initiate(alice);
      const { code, state } = fake().authorize(authorizationUrl);
      expect(
        (await t.app.inject({ method: 'POST', url: callbackUrl, headers: t.auth(mallory), payload: { code, state } }))
          .statusCode,
      ).toBe(400);
      // Consumed by the failed attempt: a stolen state is useless afterwards, too.
      expect(
        (await t.app.inject({ method: 'POST', url: callbackUrl, headers: t.auth(alice), payload: { code, state } }))
          .statusCode,
      ).toBe(400);
      const again = fake().authorize((await initiate(alice)).authorizationUrl);
      expect(
        (await t.app.inject({ method: 'POST', url: callbackUrl, headers: t.auth(bob), payload: again })).statusCode,
      ).toBe(400);
      expect(await t.app.entitle.store.connections.list('globex')).toHaveLength(0);
      expect(await t.app.entitle.store.connections.list('acme')).toHaveLength(0);
    });

    it('a state of the other provider is rejected', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const { authorizationUrl } = await initiate(token);
      const { code, state } = fake().authorize(authorizationUrl);
      const other = provider === 'google' ? 'microsoft' : 'google';
      expect(
        (
          await t.app.inject({
            method: 'POST',
            url: `/api/oauth/${other}/callback/`,
            headers: t.auth(token),
            payload: { code, state },
          })
        ).statusCode,
      ).toBe(400);
    });

    it('a state used with another purpose is rejected and stores nothing', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const { authorizationUrl } = await initiate(token, 'login');
      const { code, state } = fake().authorize(authorizationUrl);
      const response = await t.app.inject({
        method: 'POST',
        url: callbackUrl,
        headers: t.auth(token),
        payload: { code, state, purpose: 'calendar' },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toMatch(/purpose/);
      expect(await t.app.entitle.store.connections.list('acme')).toHaveLength(0);
    });

    it('a token endpoint failure is 502, stores nothing and is audited', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const { authorizationUrl } = await initiate(token);
      const { code, state } = fake().authorize(authorizationUrl);
      fake().failNext({ method: 'POST', path: /token/, status: 500, body: { error: 'server_error' } });
      const response = await t.app.inject({
        method: 'POST',
        url: callbackUrl,
        headers: t.auth(token),
        payload: { code, state },
      });
      expect(response.statusCode).toBe(502);
      expect(response.json().error).toMatch(provider === 'google' ? /^Google/ : /^Microsoft/);
      expect(await t.app.entitle.store.connections.list('acme')).toHaveLength(0);
      const audit = (await t.app.entitle.store.audit.list({ tenantId: 'acme', action: 'oauth.callback' })).items;
      expect(audit.map((row) => row.outcome)).toEqual(['failure']);
    });

    it('a wrong PKCE verifier is refused by the provider and stores nothing', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      // Two flows: the code of the first with the state (and so the verifier) of the second.
      const first = fake().authorize((await initiate(token)).authorizationUrl);
      const second = fake().authorize((await initiate(token)).authorizationUrl);
      const response = await t.app.inject({
        method: 'POST',
        url: callbackUrl,
        headers: t.auth(token),
        payload: { code: first.code, state: second.state },
      });
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect(await t.app.entitle.store.connections.list('acme')).toHaveLength(0);
    });

    it('the user declining consent is 400 and stores nothing', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const { state } = await initiate(token);
      const response = await t.app.inject({
        method: 'POST',
        url: callbackUrl,
        headers: t.auth(token),
        payload: { state, error: 'access_denied' },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toMatch(/access_denied/);
    });

    it('a plan downgrade between initiation and callback is caught at the callback', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const { authorizationUrl } = await initiate(token);
      const { code, state } = fake().authorize(authorizationUrl);
      await t.app.entitle.operations.changePlan('acme', 'free', { actor: 'test:ops' });
      const response = await t.app.inject({
        method: 'POST',
        url: callbackUrl,
        headers: t.auth(token),
        payload: { code, state },
      });
      expect(response.statusCode).toBe(403);
      // The same body as the gate's 403.
      expect(response.json()).toEqual(CALENDAR_SYNC_NOT_IN_PLAN);
      expect(await t.app.entitle.store.connections.list('acme')).toHaveLength(0);
    });
  });

  describe('max_connected_calendars', () => {
    it('refuses a connection beyond the plan limit, at initiation and at the callback', async () => {
      // pro allows 2 calendars per tenant.
      const alice = await t.token('acme', 'alice', { plan: 'pro' });
      const bob = await t.token('acme', 'bob');
      await connectCalendar(t, fake(), alice, { email: `a1-${provider}@example.com` });
      // Bob starts while there is still room…
      const pending = fake().authorize(
        (
          await t.app.inject({
            method: 'POST',
            url: initiateUrl,
            headers: t.auth(bob),
            payload: { purpose: 'calendar' },
          })
        ).json().authorizationUrl,
        { email: `b1-${provider}@example.com` },
      );
      await connectCalendar(t, fake(), alice, { email: `a2-${provider}@example.com` });
      // …but the limit is checked again when he comes back.
      const late = await t.app.inject({ method: 'POST', url: callbackUrl, headers: t.auth(bob), payload: pending });
      expect(late.statusCode).toBe(403);
      expect(late.json()).toMatchObject({ feature: 'max_connected_calendars', limit: 2, current: 2 });
      const early = await t.app.inject({
        method: 'POST',
        url: initiateUrl,
        headers: t.auth(alice),
        payload: { purpose: 'calendar' },
      });
      expect(early.statusCode).toBe(403);
      expect(early.json()).toMatchObject({ feature: 'max_connected_calendars', limit: 2, current: 2 });
      const refusals = await t.app.entitle.store.audit.list({ tenantId: 'acme', action: 'oauth.initiate' });
      expect(refusals.items.filter((row) => row.outcome === 'denied')).toEqual([
        expect.objectContaining({
          actor: 'user:alice@acme',
          details: expect.objectContaining({ reason: 'limit reached', limit: 2, current: 2 }),
        }),
      ]);
      expect(await t.app.entitle.store.connections.list('acme', { status: 'valid' })).toHaveLength(2);
    });

    it('connecting the same account again replaces its tokens instead of using another slot', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const first = await connectCalendar(t, fake(), token, { email: `same-${provider}@example.com` });
      const second = await connectCalendar(t, fake(), token, { email: `same-${provider}@example.com` });
      expect(second).toBe(first);
      expect(await t.app.entitle.store.connections.list('acme')).toHaveLength(1);
    });
  });
});

describe('an unconfigured provider', () => {
  it('answers 503 naming the variables to set', async () => {
    const config = loadConfig({
      ENTITLE_DB: ':memory:',
      ENTITLE_POLICIES: STARTER_POLICY_DIR,
      ENTITLE_SEED_DEMO: 'false',
    });
    const app = await buildApp({ config, logger: false });
    try {
      const { issueApiToken } = await import('../../src/auth/api-tokens.js');
      await app.entitle.operations.createTenant({ id: 'acme', plan: 'pro' }, { actor: 'test' });
      const { token } = await issueApiToken(
        app.entitle.store,
        { tenantId: 'acme', userId: 'alice', role: 'member' },
        { actor: 'test' },
      );
      const response = await app.inject({
        method: 'POST',
        url: '/api/oauth/google/initiate/',
        headers: { authorization: `Bearer ${token}` },
        payload: { purpose: 'calendar' },
      });
      expect(response.statusCode).toBe(503);
      expect(response.json().error).toMatch(/GOOGLE_CLIENT_ID/);
    } finally {
      await app.close();
    }
  });
});

describe('PKCE', () => {
  it('the challenge is the base64url SHA-256 of a fresh 64-character verifier', async () => {
    const { newPkce } = await import('../../src/oauth/oauth-state.js');
    const a = newPkce();
    const b = newPkce();
    expect(a.verifier).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(a.challenge).toBe(createHash('sha256').update(a.verifier).digest('base64url'));
    expect(b.verifier).not.toBe(a.verifier);
  });
});
