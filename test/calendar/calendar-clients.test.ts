// The Google and Microsoft clients on their own, against the fakes: the real google-auth-library
// + @googleapis/calendar and the real Graph client, with errors mapped to provider-errors.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CalendarClient } from '../../src/calendar/calendar-client.js';
import { createCalendarClients } from '../../src/calendar/calendar-clients.js';
import {
  ProviderAuthError,
  ProviderGrantError,
  ProviderRateLimitError,
  ProviderRequestError,
  SyncStateExpiredError,
} from '../../src/calendar/provider-errors.js';
import { loadConfig } from '../../src/config.js';
import { newPkce } from '../../src/oauth/oauth-state.js';
import type { FakeProvider } from '../fakes/fake-provider.js';
import { PROVIDERS, startFakes, type Fakes } from '../support/calendar.js';

let fakes: Fakes;
beforeAll(async () => {
  fakes = await startFakes();
});
afterAll(() => fakes.close());

describe.each(PROVIDERS)('%s client', (provider) => {
  let fake: FakeProvider;
  let client: CalendarClient;
  let counter = 0;
  beforeAll(async () => {
    fake = fakes[provider];
    const clients = await createCalendarClients(loadConfig({ ENTITLE_DB: ':memory:', ...fakes.env }));
    client = clients[provider] as CalendarClient;
  });

  const redirectUri = () =>
    fake.env[provider === 'google' ? 'GOOGLE_REDIRECT_URI' : 'MICROSOFT_REDIRECT_URI'] as string;

  async function connect(email = `c${++counter}@example.com`) {
    const pkce = newPkce();
    const url = client.authorizationUrl({
      state: `state-${counter}`,
      codeChallenge: pkce.challenge,
      redirectUri: redirectUri(),
      loginHint: email,
    });
    const { code } = fake.authorize(url, { email });
    return { email, tokens: await client.exchangeCode(code, pkce.verifier, redirectUri()) };
  }

  it('builds an authorization URL for the code flow with PKCE S256, offline access and the state', () => {
    const url = new URL(
      client.authorizationUrl({
        state: 'st4te',
        codeChallenge: 'c'.repeat(43),
        redirectUri: redirectUri(),
        loginHint: 'a@b.example',
      }),
    );
    expect(url.origin).toBe(fake.baseUrl);
    const query = url.searchParams;
    expect(query.get('state')).toBe('st4te');
    expect(query.get('code_challenge')).toBe('c'.repeat(43));
    expect(query.get('code_challenge_method')).toBe('S256');
    expect(query.get('response_type')).toBe('code');
    expect(query.get('login_hint')).toBe('a@b.example');
    if (provider === 'google') expect(query.get('access_type')).toBe('offline');
    else expect(query.get('scope')).toContain('offline_access');
  });

  it('exchanges a code with the verifier for tokens and the account e-mail; a code works once', async () => {
    const pkce = newPkce();
    const url = client.authorizationUrl({ state: 's', codeChallenge: pkce.challenge, redirectUri: redirectUri() });
    const { code } = fake.authorize(url, { email: `once-${provider}@example.com` });
    const tokens = await client.exchangeCode(code, pkce.verifier, redirectUri());
    expect(tokens).toMatchObject({
      accountEmail: `once-${provider}@example.com`,
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
    });
    expect(tokens.expiresAt).toBeGreaterThan(Date.now());
    expect(tokens.scopes.length).toBeGreaterThan(0);
    await expect(client.exchangeCode(code, pkce.verifier, redirectUri())).rejects.toBeInstanceOf(ProviderGrantError);
  });

  it('refuses a wrong PKCE verifier', async () => {
    const pkce = newPkce();
    const { code } = fake.authorize(
      client.authorizationUrl({ state: 's', codeChallenge: pkce.challenge, redirectUri: redirectUri() }),
    );
    await expect(client.exchangeCode(code, newPkce().verifier, redirectUri())).rejects.toBeInstanceOf(
      ProviderGrantError,
    );
  });

  it('refreshes the access token; a revoked grant is ProviderGrantError', async () => {
    const { tokens } = await connect();
    const refreshed = await client.refreshTokens(tokens.refreshToken as string);
    expect(refreshed.accessToken).not.toBe(tokens.accessToken);
    expect(refreshed.refreshToken).toEqual(expect.any(String));
    if (provider === 'microsoft') expect(refreshed.refreshToken).not.toBe(tokens.refreshToken); // rotated
    expect(await client.listCalendars(refreshed.accessToken)).not.toHaveLength(0);
    fake.revokeGrants();
    await expect(client.refreshTokens(refreshed.refreshToken as string)).rejects.toBeInstanceOf(ProviderGrantError);
  });

  it('sends the bearer token to the API (for Graph: because the fake is a custom https host)', async () => {
    const { tokens } = await connect();
    const before = fake.requests.length;
    await client.listCalendars(tokens.accessToken);
    const calls = fake.requests.slice(before);
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) expect(call.authorization).toBe(`Bearer ${tokens.accessToken}`);
  });

  it('lists calendars across pages', async () => {
    const { email, tokens } = await connect();
    const calendars = Array.from({ length: 5 }, (_, i) => ({
      id: `${email}-cal${i}`,
      name: `Cal ${i}`,
      primary: i === 0,
    }));
    fake.setCalendars(email, calendars);
    const listed = await client.listCalendars(tokens.accessToken);
    expect(listed.map((c) => c.name)).toEqual(['Cal 0', 'Cal 1', 'Cal 2', 'Cal 3', 'Cal 4']);
    expect(listed[0]).toMatchObject({ primary: true });
  });

  it('syncs in full, then only the changes, with all-day and free/tentative mapped', async () => {
    const { email, tokens } = await connect();
    const [calendar] = await client.listCalendars(tokens.accessToken);
    const id = calendar?.id as string;
    fake.putEvent(email, id, { id: 'a', start: '2026-12-01T09:00:00Z', end: '2026-12-01T10:00:00Z' });
    fake.putEvent(email, id, { id: 'b', start: '2026-12-02', end: '2026-12-03', allDay: true, showAs: 'free' });
    fake.putEvent(email, id, {
      id: 'c',
      start: '2026-12-03T09:00:00Z',
      end: '2026-12-03T09:30:00Z',
      showAs: 'tentative',
    });
    const full = await client.syncEvents(tokens.accessToken, id, null);
    expect(full.fullSync).toBe(true);
    expect(full.changes).toEqual([
      {
        type: 'upsert',
        block: {
          eventId: 'a',
          start: '2026-12-01T09:00:00.000Z',
          end: '2026-12-01T10:00:00.000Z',
          allDay: false,
          showAs: 'busy',
        },
      },
      {
        type: 'upsert',
        block: {
          eventId: 'b',
          start: '2026-12-02T00:00:00.000Z',
          end: '2026-12-03T00:00:00.000Z',
          allDay: true,
          showAs: 'free',
        },
      },
      {
        type: 'upsert',
        block: {
          eventId: 'c',
          start: '2026-12-03T09:00:00.000Z',
          end: '2026-12-03T09:30:00.000Z',
          allDay: false,
          showAs: 'tentative',
        },
      },
    ]);
    fake.deleteEvent(email, id, 'a');
    fake.putEvent(email, id, { id: 'd', start: '2026-12-04T09:00:00Z', end: '2026-12-04T10:00:00Z' });
    const incremental = await client.syncEvents(tokens.accessToken, id, full.syncState);
    expect(incremental.fullSync).toBe(false);
    expect(incremental.changes).toEqual([
      { type: 'delete', eventId: 'a' },
      { type: 'upsert', block: expect.objectContaining({ eventId: 'd' }) },
    ]);
    const nothing = await client.syncEvents(tokens.accessToken, id, incremental.syncState);
    expect(nothing.changes).toEqual([]);
    fake.expireSyncState();
    await expect(client.syncEvents(tokens.accessToken, id, nothing.syncState)).rejects.toBeInstanceOf(
      SyncStateExpiredError,
    );
  });

  it('maps 401, 429 with Retry-After and 5xx, retries nothing itself, and never puts a token in a message', async () => {
    const { tokens } = await connect();
    const failures: unknown[] = [];
    const attempt = async () => {
      try {
        await client.listCalendars(tokens.accessToken);
      } catch (error) {
        failures.push(error);
        return error;
      }
      return undefined;
    };
    const path = /calendarList|calendars/;
    fake.failNext({
      method: 'GET',
      path,
      status: 429,
      headers: { 'retry-after': '7' },
      body: { error: { code: 429, message: 'Too many requests' } },
    });
    let before = fake.requests.length;
    const limited = await attempt();
    expect(limited).toBeInstanceOf(ProviderRateLimitError);
    expect((limited as ProviderRateLimitError).retryAfterMs).toBe(7000);
    expect(fake.requests.length - before).toBe(1);

    fake.failNext({ method: 'GET', path, status: 500, body: { error: { code: 500, message: 'Backend Error' } } });
    before = fake.requests.length;
    expect(await attempt()).toBeInstanceOf(ProviderRequestError);
    expect(fake.requests.length - before).toBe(1);

    fake.expireAccessTokens();
    expect(await attempt()).toBeInstanceOf(ProviderAuthError);
    for (const error of failures) expect(String((error as Error).message)).not.toContain(tokens.accessToken);
  });

  it.runIf(provider === 'google')('revokes a token at Google', async () => {
    const { tokens } = await connect();
    expect(await client.revoke(tokens.refreshToken as string)).toBe(true);
    expect(fake.revokedTokens).toContain(tokens.refreshToken);
    // Revoking it again is fine: it is gone either way.
    expect(await client.revoke(tokens.refreshToken as string)).toBe(true);
  });

  it.runIf(provider === 'microsoft')('has nothing to revoke at Microsoft and makes no request', async () => {
    const before = fake.requests.length;
    expect(await client.revoke('anything')).toBe(false);
    expect(fake.requests.length).toBe(before);
  });
});
