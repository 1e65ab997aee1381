// A fake Microsoft on https://127.0.0.1: the identity platform v2 token endpoint and the Graph
// subset Entitle uses (/me/calendars, calendarView delta), in Graph's wire format. HTTPS because
// the Graph client attaches bearer tokens only to https URLs; the test CA is trusted through
// NODE_EXTRA_CA_CERTS (vitest.config.ts). Pages are small so paging is exercised.

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MICROSOFT_SCOPES } from '../../src/calendar/microsoft-calendar-client.js';
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

const CLIENT_ID = 'test-ms-client';
const CLIENT_SECRET = 'test-ms-secret';
const PAGE_SIZE = 2;
const TLS = new URL('../fixtures/tls/', import.meta.url);

interface DeltaCursor {
  after: number | null;
  upto: number;
  offset: number;
  epoch: number;
}

export async function startFakeMicrosoft(): Promise<FakeProvider> {
  const backend = new FakeBackend(CLIENT_ID, () => [
    { id: 'AAMkAD-default', name: 'Calendar', primary: true, canEdit: true },
  ]);
  backend.account(DEFAULT_EMAIL);
  let baseUrl = '';

  const graphError = (response: ServerResponse, status: number, code: string, message: string) =>
    sendJson(response, status, {
      error: { code, message, innerError: { 'request-id': 'fake', date: new Date().toISOString() } },
    });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    const body = request.method === 'POST' ? await readBody(request) : undefined;
    if (backend.intercept(request, body ? Object.fromEntries(body.form) : undefined, response)) return;
    const query = (name: string) => {
      for (const [key, value] of url.searchParams) if (key.toLowerCase() === name.toLowerCase()) return value;
      return null;
    };

    if (request.method === 'POST' && /^\/[^/]+\/oauth2\/v2\.0\/token$/.test(url.pathname) && body) {
      const credentials = clientCredentials(request, body.form);
      const secretOk = credentials.id === CLIENT_ID && credentials.secret === CLIENT_SECRET;
      const grantType = body.form.get('grant_type');
      const result =
        grantType === 'authorization_code'
          ? backend.exchange(body.form, secretOk)
          : grantType === 'refresh_token'
            ? backend.refresh(body.form, secretOk, true)
            : { error: 'unsupported_grant_type', description: String(grantType) };
      if ('error' in result) {
        return sendJson(response, result.error === 'invalid_client' ? 401 : 400, {
          error: result.error,
          error_description: `AADSTS70000: ${result.description}`,
          error_codes: [70000],
        });
      }
      return sendJson(response, 200, {
        token_type: 'Bearer',
        scope: result.scopes.join(' '),
        expires_in: 3600,
        ext_expires_in: 3600,
        access_token: result.accessToken,
        refresh_token: result.refreshToken,
        id_token: idToken({
          iss: 'https://login.microsoftonline.com/fake/v2.0',
          aud: CLIENT_ID,
          preferred_username: result.email,
          email: result.email,
          oid: result.email,
        }),
      });
    }

    if (!url.pathname.startsWith('/v1.0/'))
      return graphError(response, 404, 'BadRequest', 'Resource not found for the segment.');
    const email = backend.authenticate(request.headers.authorization);
    if (!email) return graphError(response, 401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.');

    if (request.method === 'GET' && url.pathname === '/v1.0/me/calendars') {
      const calendars = backend.account(email).calendars;
      const skip = Number(query('$skip') ?? 0);
      const page = calendars.slice(skip, skip + PAGE_SIZE);
      return sendJson(response, 200, {
        '@odata.context': `${baseUrl}/v1.0/$metadata#users('${email}')/calendars`,
        value: page.map((calendar) => ({
          id: calendar.id,
          name: calendar.name,
          isDefaultCalendar: calendar.primary === true,
          canEdit: calendar.canEdit !== false,
          owner: { address: email },
        })),
        ...(skip + PAGE_SIZE < calendars.length
          ? { '@odata.nextLink': `${baseUrl}/v1.0/me/calendars?$skip=${skip + PAGE_SIZE}` }
          : {}),
      });
    }

    const delta = /^\/v1\.0\/me\/calendars\/([^/]+)\/calendarView\/delta$/.exec(url.pathname);
    if (request.method === 'GET' && delta) {
      const calendar = backend.resolveCalendar(email, decodeURIComponent(delta[1] as string));
      if (!calendar)
        return graphError(response, 404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
      const skipToken = query('$skiptoken');
      const deltaToken = query('$deltatoken');
      let cursor: DeltaCursor | undefined;
      if (skipToken) cursor = decodeToken<DeltaCursor>(skipToken);
      else if (deltaToken) {
        const decoded = decodeToken<{ seq: number; epoch: number }>(deltaToken);
        cursor = decoded ? { after: decoded.seq, upto: backend.seq, offset: 0, epoch: decoded.epoch } : undefined;
      } else {
        if (!query('startDateTime') || !query('endDateTime'))
          return graphError(response, 400, 'ErrorInvalidParameter', 'startDateTime and endDateTime are required.');
        cursor = { after: null, upto: backend.seq, offset: 0, epoch: backend.epoch };
      }
      if (!cursor || cursor.epoch !== backend.epoch)
        return graphError(response, 410, 'syncStateNotFound', 'The sync state generation is not found.');
      const changes = backend.changes(email, calendar.id, cursor.after, cursor.upto);
      const page = changes.slice(cursor.offset, cursor.offset + PAGE_SIZE);
      const more = cursor.offset + PAGE_SIZE < changes.length;
      const link = `${baseUrl}/v1.0/me/calendars/${encodeURIComponent(calendar.id)}/calendarView/delta`;
      return sendJson(response, 200, {
        '@odata.context': `${baseUrl}/v1.0/$metadata#Collection(event)`,
        value: page.map(graphEvent),
        ...(more
          ? { '@odata.nextLink': `${link}?$skiptoken=${encodeToken({ ...cursor, offset: cursor.offset + PAGE_SIZE })}` }
          : { '@odata.deltaLink': `${link}?$deltatoken=${encodeToken({ seq: cursor.upto, epoch: backend.epoch })}` }),
      });
    }
    return graphError(response, 404, 'BadRequest', 'Resource not found for the segment.');
  }

  const server: Server = createServer(
    { key: readFileSync(new URL('server.key', TLS)), cert: readFileSync(new URL('server.crt', TLS)) },
    (request, response) => {
      handle(request, response).catch((error: unknown) =>
        graphError(response, 500, 'InternalServerError', String(error)),
      );
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    provider: 'microsoft',
    baseUrl,
    env: {
      MICROSOFT_CLIENT_ID: CLIENT_ID,
      MICROSOFT_CLIENT_SECRET: CLIENT_SECRET,
      MICROSOFT_REDIRECT_URI: 'http://127.0.0.1/oauth/microsoft/callback',
      MICROSOFT_AUTHORITY_URL: baseUrl,
      MICROSOFT_TENANT: 'common',
      MICROSOFT_GRAPH_URL: baseUrl,
    },
    ...backend.controls(MICROSOFT_SCOPES),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function graphEvent({ id, event, deleted }: Change): object {
  if (deleted) return { '@odata.type': '#microsoft.graph.event', id, '@removed': { reason: 'deleted' } };
  const time = (value: string) => ({
    dateTime: event.allDay
      ? `${value.slice(0, 10)}T00:00:00.0000000`
      : `${new Date(value).toISOString().slice(0, 19)}.0000000`,
    timeZone: 'UTC',
  });
  return {
    '@odata.type': '#microsoft.graph.event',
    id,
    subject: `Event ${id}`,
    isAllDay: event.allDay === true,
    isCancelled: false,
    showAs: event.showAs ?? 'busy',
    start: time(event.start),
    end: time(event.end),
  };
}
