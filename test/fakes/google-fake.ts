// A fake Google on 127.0.0.1: the OAuth 2.0 token and revocation endpoints and the Calendar v3
// subset Entitle uses (calendarList, events with sync tokens), in Google's wire format. Pages
// are small so paging is exercised.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GOOGLE_SCOPES } from '../../src/calendar/google-calendar-client.js';
import {
  clientCredentials,
  decodeToken,
  DEFAULT_EMAIL,
  encodeToken,
  FakeBackend,
  idToken,
  readBody,
  sendJson,
  type Change,
} from './fake-backend.js';
import type { FakeProvider } from './fake-provider.js';

const CLIENT_ID = 'test-google-client';
const CLIENT_SECRET = 'test-google-secret';
const PAGE_SIZE = 2;

interface EventsCursor {
  after: number | null;
  upto: number;
  offset: number;
}

export async function startFakeGoogle(): Promise<FakeProvider> {
  const backend = new FakeBackend(CLIENT_ID, (email) => [
    { id: email, name: email, primary: true, timeZone: 'UTC', canEdit: true },
  ]);
  backend.account(DEFAULT_EMAIL);

  const apiError = (response: ServerResponse, status: number, message: string, reason?: string) =>
    sendJson(response, status, {
      error: { code: status, message, errors: [{ domain: 'global', reason: reason ?? 'error', message }] },
    });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const body = request.method === 'POST' ? await readBody(request) : undefined;
    if (backend.intercept(request, body ? Object.fromEntries(body.form) : undefined, response)) return;

    if (request.method === 'POST' && url.pathname === '/token' && body) {
      const credentials = clientCredentials(request, body.form);
      const secretOk = credentials.id === CLIENT_ID && credentials.secret === CLIENT_SECRET;
      const grantType = body.form.get('grant_type');
      const result =
        grantType === 'authorization_code'
          ? backend.exchange(body.form, secretOk)
          : grantType === 'refresh_token'
            ? backend.refresh(body.form, secretOk, false)
            : { error: 'unsupported_grant_type', description: String(grantType) };
      if ('error' in result)
        return sendJson(response, result.error === 'invalid_client' ? 401 : 400, {
          error: result.error,
          error_description: result.description,
        });
      return sendJson(response, 200, {
        access_token: result.accessToken,
        expires_in: 3599,
        scope: result.scopes.join(' '),
        token_type: 'Bearer',
        // Google sends the refresh token only with the code exchange.
        ...(grantType === 'authorization_code'
          ? {
              refresh_token: result.refreshToken,
              id_token: idToken({
                iss: 'https://accounts.google.com',
                aud: CLIENT_ID,
                email: result.email,
                email_verified: true,
                sub: result.email,
              }),
            }
          : {}),
      });
    }

    if (request.method === 'POST' && url.pathname === '/revoke') {
      const token = url.searchParams.get('token') ?? body?.form.get('token') ?? '';
      return backend.revoke(token)
        ? sendJson(response, 200, {})
        : sendJson(response, 400, { error: 'invalid_token', error_description: 'Token expired or revoked' });
    }

    if (!url.pathname.startsWith('/calendar/v3/')) return apiError(response, 404, 'Not Found', 'notFound');
    const email = backend.authenticate(request.headers.authorization);
    if (!email) return apiError(response, 401, 'Request had invalid authentication credentials.', 'authError');

    if (request.method === 'GET' && url.pathname === '/calendar/v3/users/me/calendarList') {
      const calendars = backend.account(email).calendars;
      const offset = Number(url.searchParams.get('pageToken') ?? 0);
      const size = Math.min(PAGE_SIZE, Number(url.searchParams.get('maxResults') ?? PAGE_SIZE));
      const page = calendars.slice(offset, offset + size);
      return sendJson(response, 200, {
        kind: 'calendar#calendarList',
        items: page.map((calendar) => ({
          kind: 'calendar#calendarListEntry',
          id: calendar.id,
          summary: calendar.name,
          timeZone: calendar.timeZone ?? 'UTC',
          accessRole: calendar.canEdit === false ? 'reader' : 'owner',
          ...(calendar.primary ? { primary: true } : {}),
        })),
        ...(offset + size < calendars.length ? { nextPageToken: String(offset + size) } : {}),
      });
    }

    const events = /^\/calendar\/v3\/calendars\/([^/]+)\/events$/.exec(url.pathname);
    if (request.method === 'GET' && events) {
      const calendar = backend.resolveCalendar(email, decodeURIComponent(events[1] as string));
      if (!calendar) return apiError(response, 404, 'Not Found', 'notFound');
      let cursor: EventsCursor;
      const pageToken = url.searchParams.get('pageToken');
      const syncToken = url.searchParams.get('syncToken');
      if (pageToken) {
        const decoded = decodeToken<EventsCursor>(pageToken);
        if (!decoded) return apiError(response, 400, 'Invalid page token', 'invalid');
        cursor = decoded;
      } else if (syncToken) {
        const decoded = decodeToken<{ epoch: number; calendar: string; seq: number }>(syncToken);
        if (!decoded || decoded.epoch !== backend.epoch || decoded.calendar !== calendar.id) {
          return apiError(response, 410, 'Sync token is no longer valid, a full sync is required.', 'fullSyncRequired');
        }
        cursor = { after: decoded.seq, upto: backend.seq, offset: 0 };
      } else {
        cursor = { after: null, upto: backend.seq, offset: 0 };
      }
      const changes = backend.changes(email, calendar.id, cursor.after, cursor.upto);
      const page = changes.slice(cursor.offset, cursor.offset + PAGE_SIZE);
      const more = cursor.offset + PAGE_SIZE < changes.length;
      return sendJson(response, 200, {
        kind: 'calendar#events',
        summary: calendar.name,
        timeZone: calendar.timeZone ?? 'UTC',
        items: page.map(googleEvent),
        ...(more
          ? { nextPageToken: encodeToken({ ...cursor, offset: cursor.offset + PAGE_SIZE }) }
          : { nextSyncToken: encodeToken({ epoch: backend.epoch, calendar: calendar.id, seq: cursor.upto }) }),
      });
    }
    return apiError(response, 404, 'Not Found', 'notFound');
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) =>
      sendJson(response, 500, { error: { code: 500, message: String(error) } }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    provider: 'google',
    baseUrl,
    env: {
      GOOGLE_CLIENT_ID: CLIENT_ID,
      GOOGLE_CLIENT_SECRET: CLIENT_SECRET,
      GOOGLE_REDIRECT_URI: 'http://127.0.0.1/oauth/google/callback',
      GOOGLE_OAUTH_AUTH_URL: `${baseUrl}/o/oauth2/v2/auth`,
      GOOGLE_OAUTH_TOKEN_URL: `${baseUrl}/token`,
      GOOGLE_OAUTH_REVOKE_URL: `${baseUrl}/revoke`,
      GOOGLE_API_URL: baseUrl,
    },
    ...backend.controls(GOOGLE_SCOPES),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function googleEvent({ id, event, deleted }: Change): object {
  if (deleted) return { kind: 'calendar#event', id, status: 'cancelled' };
  const time = (value: string) => (event.allDay ? { date: value.slice(0, 10) } : { dateTime: value, timeZone: 'UTC' });
  return {
    kind: 'calendar#event',
    id,
    status: event.showAs === 'tentative' ? 'tentative' : 'confirmed',
    start: time(event.start),
    end: time(event.end),
    ...(event.showAs === 'free' ? { transparency: 'transparent' } : {}),
  };
}
