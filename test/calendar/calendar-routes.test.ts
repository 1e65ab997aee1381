// The calendar endpoints, end to end: the app, its gate, SQLite, and the real Google and Graph
// clients against the fake providers. Ports test_calendar_sync_permissions and adds sync,
// refresh, rate limits, disconnect and tenant isolation.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sealTokens } from '../../src/calendar/connection-tokens.js';
import { buildTestApp, type TestApp } from '../support/app.js';
import { buildCalendarApp, connectCalendar, PROVIDERS, startFakes, type Fakes } from '../support/calendar.js';
import { CALENDAR_SYNC_NOT_IN_PLAN } from '../support/denials.js';

let fakes: Fakes;
beforeAll(async () => {
  fakes = await startFakes();
});
afterAll(() => fakes.close());

const CALENDAR_ENDPOINTS = [
  { method: 'GET', url: '/api/calendar/list/' },
  { method: 'POST', url: '/api/calendar/sync/', payload: { connectionId: 'c1' } },
  { method: 'DELETE', url: '/api/calendar/disconnect/?connectionId=c1' },
] as const;

describe.each(PROVIDERS)('calendar endpoints with %s', (provider) => {
  let t: TestApp;
  const fake = () => fakes[provider];
  let email: string;
  let counter = 0;
  beforeEach(async () => {
    t = await buildCalendarApp(fakes);
    // A fresh account per test: the fakes live for the whole file.
    email = `user${++counter}-${provider}@example.com`;
  });
  afterEach(() => t.close());

  async function primaryCalendarId(token: string): Promise<string> {
    const listed = await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) });
    expect(listed.statusCode, listed.body).toBe(200);
    const calendars = listed.json().connections[0].calendars as { id: string; primary: boolean }[];
    return calendars.find((c) => c.primary)?.id ?? calendars[0]!.id;
  }

  describe('permissions', () => {
    it.each(CALENDAR_ENDPOINTS)('$method $url without credentials is 401', async (endpoint) => {
      const response = await t.app.inject({ ...endpoint });
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ error: 'Authentication required' });
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    });

    it('GET /api/calendar/status/ without credentials is 401', async () => {
      expect((await t.app.inject({ method: 'GET', url: '/api/calendar/status/' })).statusCode).toBe(401);
    });

    it.each(CALENDAR_ENDPOINTS)(
      '$method $url for a tenant without the feature is 403 with the upgrade message',
      async (endpoint) => {
        const token = await t.token('acme', 'alice', { plan: 'free' });
        const response = await t.app.inject({ ...endpoint, headers: t.auth(token) });
        expect(response.statusCode).toBe(403);
        expect(response.json()).toEqual(CALENDAR_SYNC_NOT_IN_PLAN);
      },
    );

    it('status for a tenant without the feature is 200 with available:false and the message', async () => {
      const token = await t.token('acme', 'alice', { plan: 'free' });
      const response = await t.app.inject({ method: 'GET', url: '/api/calendar/status/', headers: t.auth(token) });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        available: false,
        feature: 'can_use_calendar_sync',
        featureName: 'Calendar Sync',
        message: expect.stringMatching(/upgrade/i),
        requiredPlan: 'pro',
        limit: { max: 0, used: 0 },
        connections: [],
      });
    });

    it('status for a tenant with the feature is 200 with available:true and no message', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const body = (await t.app.inject({ method: 'GET', url: '/api/calendar/status/', headers: t.auth(token) })).json();
      expect(body).toMatchObject({
        available: true,
        limit: { max: 2, used: 0 },
        providers: { google: true, microsoft: true },
      });
      expect(body).not.toHaveProperty('message');
    });

    it('a tenant with the feature gets 200 from list, sync and disconnect', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const id = await connectCalendar(t, fake(), token, { email });
      expect(
        (await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) })).statusCode,
      ).toBe(200);
      expect(
        (
          await t.app.inject({
            method: 'POST',
            url: '/api/calendar/sync/',
            headers: t.auth(token),
            payload: { connectionId: id },
          })
        ).statusCode,
      ).toBe(200);
      expect(
        (
          await t.app.inject({
            method: 'DELETE',
            url: '/api/calendar/disconnect/',
            headers: t.auth(token),
            payload: { connectionId: id },
          })
        ).statusCode,
      ).toBe(200);
    });

    it('an override enabling the feature takes effect on the next request, with no restart', async () => {
      const token = await t.token('acme', 'alice', { plan: 'free' });
      expect(
        (await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) })).statusCode,
      ).toBe(403);
      await t.app.entitle.operations.setOverride(
        { tenantId: 'acme', feature: 'can_use_calendar_sync', value: true, reason: 'trial' },
        { actor: 'test:ops' },
      );
      const response = await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ connections: [] });
      const status = (
        await t.app.inject({ method: 'GET', url: '/api/calendar/status/', headers: t.auth(token) })
      ).json();
      expect(status.available).toBe(true);
    });

    it('an override revoking the feature on a paying plan says REVOKED_BY_OVERRIDE', async () => {
      const token = await t.token('acme', 'alice', { plan: 'business' });
      await t.app.entitle.operations.setOverride(
        { tenantId: 'acme', feature: 'can_use_calendar_sync', value: false, reason: 'abuse' },
        { actor: 'test:ops' },
      );
      const response = await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) });
      expect(response.statusCode).toBe(403);
      expect(response.json().reason).toBe('REVOKED_BY_OVERRIDE');
    });

    it('denials are audited', async () => {
      const token = await t.token('acme', 'alice', { plan: 'free' });
      await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) });
      const rows = (await t.app.entitle.store.audit.list({ tenantId: 'acme', action: 'gate.denied' })).items;
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        actor: 'user:alice@acme',
        target: 'feature:can_use_calendar_sync',
        outcome: 'denied',
      });
    });
  });

  describe('list', () => {
    it('returns each valid connection with its calendars from the provider', async () => {
      fake().setCalendars(email, [
        { id: `${email}-main`, name: 'Work', primary: true, timeZone: 'Europe/Berlin', canEdit: true },
        { id: `${email}-holidays`, name: 'Holidays', canEdit: false },
        { id: `${email}-team`, name: 'Team' },
      ]);
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const id = await connectCalendar(t, fake(), token, { email });
      const response = await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) });
      expect(response.statusCode).toBe(200);
      const [connection] = response.json().connections;
      expect(connection).toMatchObject({ id, provider, purpose: 'calendar', accountEmail: email, status: 'valid' });
      expect(connection.calendars.map((c: { name: string }) => c.name)).toEqual(['Work', 'Holidays', 'Team']);
      expect(connection.calendars[0]).toMatchObject({ id: `${email}-main`, primary: true });
      // Tokens never leave the server.
      expect(response.body).not.toMatch(new RegExp(fake().validAccessTokens().join('|')));
    });

    it('refreshes an expired access token and retries once', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      await connectCalendar(t, fake(), token, { email });
      fake().expireAccessTokens();
      const response = await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json().connections[0].calendars.length).toBeGreaterThan(0);
    });

    it('refreshes before calling the provider once the stored expiry has passed', async () => {
      let now = Date.now();
      const timed = await buildCalendarApp(fakes, { clock: () => now });
      try {
        const token = await timed.token('acme', 'alice', { plan: 'pro' });
        await connectCalendar(timed, fake(), token, { email });
        now += 2 * 60 * 60_000; // both fakes issue access tokens for an hour
        const seen = fake().requests.length;
        const response = await timed.app.inject({
          method: 'GET',
          url: '/api/calendar/list/',
          headers: timed.auth(token),
        });
        expect(response.statusCode, response.body).toBe(200);
        const after = fake().requests.slice(seen);
        // The refresh comes first: no call was made with the expired token, so no 401 was needed.
        expect((after[0]?.body as { grant_type?: string } | undefined)?.grant_type).toBe('refresh_token');
        expect(after.filter((request) => request.method === 'GET')).not.toHaveLength(0);
      } finally {
        await timed.close();
      }
    });

    it('a revoked grant marks the connection invalid and answers 409 reconnect', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const id = await connectCalendar(t, fake(), token, { email });
      fake().expireAccessTokens();
      fake().revokeGrants();
      const response = await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) });
      expect(response.statusCode).toBe(409);
      expect(response.json().error).toMatch(/connect/i);
      const connection = await t.app.entitle.store.connections.get('acme', id);
      expect(connection?.status).toBe('invalid');
      expect(await t.app.entitle.store.connections.tokens('acme', id)).toBeUndefined();
    });

    it('a provider failure is 502 with a clear error and is audited', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      await connectCalendar(t, fake(), token, { email });
      fake().failNext({
        method: 'GET',
        path: /calendar/i,
        status: 500,
        body: { error: { code: 500, message: 'backend error' } },
      });
      const response = await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) });
      expect(response.statusCode).toBe(502);
      expect(response.json()).toMatchObject({
        error: expect.stringMatching(provider === 'google' ? /^Google/ : /^Microsoft/),
        provider,
      });
      const failures = (await t.app.entitle.store.audit.list({ tenantId: 'acme', action: 'calendar.list' })).items;
      expect(failures.map((row) => row.outcome)).toContain('failure');
    });
  });

  describe('sync', () => {
    it('stores busy blocks, then syncs incrementally with counts and last-sync time', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const id = await connectCalendar(t, fake(), token, { email });
      const calendarId = await primaryCalendarId(token);
      for (let i = 1; i <= 5; i++) {
        fake().putEvent(email, calendarId, {
          id: `e${i}`,
          start: `2026-12-0${i}T09:00:00Z`,
          end: `2026-12-0${i}T10:00:00Z`,
        });
      }
      const first = await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(token),
        payload: { connectionId: id },
      });
      expect(first.statusCode, first.body).toBe(200);
      expect(first.json()).toMatchObject({
        totals: { added: 5, updated: 0, deleted: 0 },
        lastSyncAt: expect.any(String),
      });
      expect(await t.app.entitle.store.connections.busyBlocks('acme', id)).toHaveLength(5);

      fake().putEvent(email, calendarId, { id: 'e2', start: '2026-12-02T11:00:00Z', end: '2026-12-02T12:00:00Z' });
      fake().putEvent(email, calendarId, { id: 'e6', start: '2026-12-06', end: '2026-12-07', allDay: true });
      fake().deleteEvent(email, calendarId, 'e3');
      const second = await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(token),
        payload: { connectionId: id },
      });
      expect(second.json()).toMatchObject({ totals: { added: 1, updated: 1, deleted: 1, fullResync: false } });
      const blocks = await t.app.entitle.store.connections.busyBlocks('acme', id);
      expect(blocks.map((b) => b.eventId).sort()).toEqual(['e1', 'e2', 'e4', 'e5', 'e6']);
      expect(blocks.find((b) => b.eventId === 'e2')).toMatchObject({ start: '2026-12-02T11:00:00.000Z' });
      expect(blocks.find((b) => b.eventId === 'e6')).toMatchObject({ allDay: true, start: '2026-12-06T00:00:00.000Z' });

      const status = (
        await t.app.inject({ method: 'GET', url: '/api/calendar/status/', headers: t.auth(token) })
      ).json();
      expect(status.connections[0]).toMatchObject({
        id,
        lastSyncAt: second.json().lastSyncAt,
        lastSync: { added: 1, updated: 1, deleted: 1 },
      });
    });

    it('starts over with a full sync when the provider drops the sync state (410)', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const id = await connectCalendar(t, fake(), token, { email });
      const calendarId = await primaryCalendarId(token);
      fake().putEvent(email, calendarId, { id: 'a', start: '2026-12-01T09:00:00Z', end: '2026-12-01T10:00:00Z' });
      await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(token),
        payload: { connectionId: id },
      });
      fake().expireSyncState();
      fake().putEvent(email, calendarId, { id: 'b', start: '2026-12-02T09:00:00Z', end: '2026-12-02T10:00:00Z' });
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(token),
        payload: { connectionId: id },
      });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json().totals.fullResync).toBe(true);
      expect((await t.app.entitle.store.connections.busyBlocks('acme', id)).map((b) => b.eventId).sort()).toEqual([
        'a',
        'b',
      ]);
    });

    it('answers 503 with Retry-After when the provider rate-limits for longer than the server waits', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const id = await connectCalendar(t, fake(), token, { email });
      await primaryCalendarId(token);
      fake().failNext({
        method: 'GET',
        path: /events|delta/,
        status: 429,
        headers: { 'retry-after': '120' },
        body: { error: { code: 429, message: 'slow down' } },
      });
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(token),
        payload: { connectionId: id, calendarIds: ['cal-x'] },
      });
      expect(response.statusCode, response.body).toBe(503);
      expect(response.headers['retry-after']).toBe('120');
      expect(await t.app.entitle.store.connections.busyBlocks('acme', id)).toHaveLength(0);
    });

    it('waits out a short Retry-After and succeeds', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const id = await connectCalendar(t, fake(), token, { email });
      const calendarId = await primaryCalendarId(token);
      fake().putEvent(email, calendarId, { id: 'r1', start: '2026-12-01T09:00:00Z', end: '2026-12-01T10:00:00Z' });
      fake().failNext({
        method: 'GET',
        path: /events|delta/,
        status: 429,
        headers: { 'retry-after': '0' },
        body: { error: { code: 429, message: 'slow down' } },
      });
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(token),
        payload: { connectionId: id, calendarIds: [calendarId] },
      });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json().totals.added).toBe(1);
    });

    it('a provider 5xx mid-sync writes nothing and keeps the previous sync state', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const id = await connectCalendar(t, fake(), token, { email });
      const calendarId = await primaryCalendarId(token);
      fake().putEvent(email, calendarId, { id: 'k1', start: '2026-12-01T09:00:00Z', end: '2026-12-01T10:00:00Z' });
      await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(token),
        payload: { connectionId: id },
      });
      const stateBefore = await t.app.entitle.store.connections.syncState('acme', id, calendarId);
      for (let i = 2; i <= 6; i++)
        fake().putEvent(email, calendarId, { id: `k${i}`, start: '2026-12-02T09:00:00Z', end: '2026-12-02T10:00:00Z' });
      // The first page arrives, the second fails: none of it may be stored.
      fake().failNext({
        method: 'GET',
        path: /events|delta/,
        status: 500,
        body: { error: { code: 500, message: 'backend error' } },
        after: 1,
      });
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(token),
        payload: { connectionId: id, calendarIds: [calendarId] },
      });
      expect(response.statusCode).toBeGreaterThanOrEqual(500);
      expect(await t.app.entitle.store.connections.syncState('acme', id, calendarId)).toBe(stateBefore);
      expect((await t.app.entitle.store.connections.busyBlocks('acme', id)).map((b) => b.eventId)).toEqual(['k1']);
    });

    it('rejects a body without connectionId with a 400 naming the field', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(token),
        payload: {},
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toMatch(/connectionId/);
    });
  });

  describe('disconnect', () => {
    it('revokes at the provider where it can, deletes tokens and busy blocks, and marks the connection invalid', async () => {
      const token = await t.token('acme', 'alice', { plan: 'pro' });
      const id = await connectCalendar(t, fake(), token, { email });
      const calendarId = await primaryCalendarId(token);
      fake().putEvent(email, calendarId, { id: 'd1', start: '2026-12-01T09:00:00Z', end: '2026-12-01T10:00:00Z' });
      await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(token),
        payload: { connectionId: id },
      });
      const revokedBefore = fake().revokedTokens.length;

      const response = await t.app.inject({
        method: 'DELETE',
        url: `/api/calendar/disconnect/?connectionId=${id}`,
        headers: t.auth(token),
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        connection: { id, status: 'invalid' },
        revokedAtProvider: provider === 'google',
      });
      expect(fake().revokedTokens.length).toBe(revokedBefore + (provider === 'google' ? 1 : 0));
      const { store } = t.app.entitle;
      expect(await store.connections.tokens('acme', id)).toBeUndefined();
      expect(await store.connections.busyBlocks('acme', id)).toHaveLength(0);
      expect((await store.connections.get('acme', id))?.status).toBe('invalid');
      // Gone from list; a second disconnect is 404.
      expect(
        (await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) })).json().connections,
      ).toEqual([]);
      expect(
        (
          await t.app.inject({
            method: 'DELETE',
            url: `/api/calendar/disconnect/?connectionId=${id}`,
            headers: t.auth(token),
          })
        ).statusCode,
      ).toBe(404);
      const audit = (await store.audit.list({ tenantId: 'acme', action: 'connection.disconnect' })).items;
      expect(audit.at(-1)).toMatchObject({ outcome: 'success', target: `connection:${id}` });
    });

    it('still deletes the tokens when the provider is no longer configured here (nothing to revoke with)', async () => {
      const unconfigured = await buildTestApp();
      try {
        const token = await unconfigured.token('acme', 'alice', { plan: 'pro' });
        const { store, cipher } = unconfigured.app.entitle;
        const tokens = {
          accessToken: 'at-left-behind',
          refreshToken: 'rt-left-behind',
          expiresAt: null,
          accountEmail: email,
          scopes: [],
        };
        const { connection } = await store.connections.connect(
          {
            id: 'c-orphan',
            tenantId: 'acme',
            userId: 'alice',
            provider,
            purpose: 'calendar',
            accountEmail: email,
            scopes: [],
            sealTokens: (id) => sealTokens(cipher, id, tokens),
          },
          { actor: 'test:setup' },
        );
        const response = await unconfigured.app.inject({
          method: 'DELETE',
          url: `/api/calendar/disconnect/?connectionId=${connection.id}`,
          headers: unconfigured.auth(token),
        });
        expect(response.statusCode).toBe(200);
        expect(response.json()).toMatchObject({
          connection: { id: connection.id, status: 'invalid' },
          revokedAtProvider: false,
        });
        expect(await store.connections.tokens('acme', connection.id)).toBeUndefined();
      } finally {
        await unconfigured.close();
      }
    });

    if (provider === 'google') {
      it('a failed revocation leaves the connection, its tokens and its events as they were (502)', async () => {
        const token = await t.token('acme', 'alice', { plan: 'pro' });
        const id = await connectCalendar(t, fake(), token, { email });
        const tokensBefore = await t.app.entitle.store.connections.tokens('acme', id);
        fake().failNext({ method: 'POST', path: /revoke/, status: 503, body: { error: 'backend_error' } });
        const response = await t.app.inject({
          method: 'DELETE',
          url: '/api/calendar/disconnect/',
          headers: t.auth(token),
          payload: { connectionId: id },
        });
        expect(response.statusCode).toBe(502);
        expect(response.json().error).toMatch(/^Google/);
        expect((await t.app.entitle.store.connections.get('acme', id))?.status).toBe('valid');
        expect(await t.app.entitle.store.connections.tokens('acme', id)).toEqual(tokensBefore);
      });
    }
  });

  describe('tenant isolation', () => {
    it("tenant B never sees, syncs or disconnects tenant A's connection", async () => {
      const alice = await t.token('acme', 'alice', { plan: 'pro' });
      const mallory = await t.token('globex', 'mallory', { plan: 'enterprise' });
      const id = await connectCalendar(t, fake(), alice, { email });

      const list = await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(mallory) });
      expect(list.json()).toEqual({ connections: [] });
      const status = await t.app.inject({ method: 'GET', url: '/api/calendar/status/', headers: t.auth(mallory) });
      expect(status.json()).toMatchObject({ connections: [], limit: { used: 0 } });
      const sync = await t.app.inject({
        method: 'POST',
        url: '/api/calendar/sync/',
        headers: t.auth(mallory),
        payload: { connectionId: id },
      });
      expect(sync.statusCode).toBe(404);
      const disconnect = await t.app.inject({
        method: 'DELETE',
        url: `/api/calendar/disconnect/?connectionId=${id}`,
        headers: t.auth(mallory),
      });
      expect(disconnect.statusCode).toBe(404);
      expect(disconnect.json()).toEqual(sync.json());
      expect((await t.app.entitle.store.connections.get('acme', id))?.status).toBe('valid');
    });

    it('a client-set tenant header or body field is ignored', async () => {
      const alice = await t.token('acme', 'alice', { plan: 'free' });
      await t.token('rich', 'bob', { plan: 'enterprise' });
      const response = await t.app.inject({
        method: 'GET',
        url: '/api/calendar/list/',
        headers: { ...t.auth(alice), 'x-tenant-id': 'rich', 'x-entitle-tenant': 'rich' },
      });
      expect(response.statusCode).toBe(403);
    });

    it("another user of the same tenant does not see the user's connection", async () => {
      const alice = await t.token('acme', 'alice', { plan: 'pro' });
      const bob = await t.token('acme', 'bob');
      const id = await connectCalendar(t, fake(), alice, { email });
      expect((await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(bob) })).json()).toEqual({
        connections: [],
      });
      expect(
        (
          await t.app.inject({
            method: 'DELETE',
            url: `/api/calendar/disconnect/?connectionId=${id}`,
            headers: t.auth(bob),
          })
        ).statusCode,
      ).toBe(404);
    });
  });
});
