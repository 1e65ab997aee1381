// Microsoft: the identity platform v2 code flow (PKCE) over fetch, and Microsoft Graph through
// @microsoft/microsoft-graph-client. The Graph client attaches the bearer token only to https
// URLs of Graph or of its customHosts, so a configured Graph URL is added as a custom host.
// Its retry handler is left out of the middleware chain: the sync decides when to retry.

import {
  AuthenticationHandler,
  Client,
  GraphError,
  HTTPMessageHandler,
  type AuthenticationProvider,
} from '@microsoft/microsoft-graph-client';
import type { MicrosoftConfig } from '../config.js';
import type {
  AuthorizationRequest,
  BusyBlock,
  CalendarClient,
  EventChange,
  OAuthTokenSet,
  ProviderCalendar,
  SyncResult,
} from './calendar-client.js';
import { emailFromIdToken } from './id-token.js';
import {
  parseRetryAfter,
  providerCode,
  ProviderError,
  providerFailure,
  ProviderGrantError,
  ProviderRateLimitError,
  ProviderRequestError,
} from './provider-errors.js';

export const MICROSOFT_SCOPES = ['openid', 'email', 'offline_access', 'User.Read', 'Calendars.Read'] as const;

const MAX_PAGES = 1000;
/** The window a full delta sync covers: the recent past and the coming year. */
const SYNC_PAST_MS = 30 * 86_400_000;
const SYNC_FUTURE_MS = 365 * 86_400_000;

export interface MicrosoftClientOptions {
  readonly timeoutMs?: number;
  readonly clock?: () => number;
}

interface TokenResponse {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  scope?: string;
  id_token?: string;
  error?: string;
  error_description?: string;
}

interface GraphPage<T> {
  value?: T[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

interface GraphCalendar {
  id?: string;
  name?: string;
  isDefaultCalendar?: boolean;
  canEdit?: boolean;
}

interface GraphEvent {
  id?: string;
  '@removed'?: { reason?: string };
  isCancelled?: boolean;
  isAllDay?: boolean;
  showAs?: string;
  start?: { dateTime?: string; timeZone?: string };
  end?: { dateTime?: string; timeZone?: string };
}

export class MicrosoftCalendarClient implements CalendarClient {
  readonly provider = 'microsoft' as const;
  readonly #config: MicrosoftConfig;
  readonly #timeout: number;
  readonly #clock: () => number;
  readonly #graphHost: string;

  constructor(config: MicrosoftConfig, options: MicrosoftClientOptions = {}) {
    this.#config = config;
    this.#timeout = options.timeoutMs ?? 10_000;
    this.#clock = options.clock ?? Date.now;
    this.#graphHost = new URL(config.graphUrl).hostname;
  }

  #endpoint(name: 'authorize' | 'token'): string {
    return `${this.#config.authorityUrl.replace(/\/+$/, '')}/${encodeURIComponent(this.#config.tenant)}/oauth2/v2.0/${name}`;
  }

  /** A Graph client that authenticates with one access token (never shared between calls). */
  #graph(accessToken: string): Client {
    const authProvider: AuthenticationProvider = { getAccessToken: async () => accessToken };
    const authentication = new AuthenticationHandler(authProvider);
    authentication.setNext(new HTTPMessageHandler());
    return Client.initWithMiddleware({
      middleware: authentication,
      baseUrl: `${this.#config.graphUrl.replace(/\/+$/, '')}/`,
      defaultVersion: 'v1.0',
      customHosts: new Set([this.#graphHost]),
      fetchOptions: { signal: AbortSignal.timeout(this.#timeout) },
    });
  }

  authorizationUrl(request: AuthorizationRequest): string {
    const url = new URL(this.#endpoint('authorize'));
    const params: Record<string, string> = {
      client_id: this.#config.clientId,
      response_type: 'code',
      response_mode: 'query',
      redirect_uri: request.redirectUri,
      scope: MICROSOFT_SCOPES.join(' '),
      state: request.state,
      code_challenge: request.codeChallenge,
      code_challenge_method: 'S256',
      prompt: 'select_account',
      ...(request.loginHint ? { login_hint: request.loginHint } : {}),
    };
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return url.toString();
  }

  async exchangeCode(
    code: string,
    codeVerifier: string,
    redirectUri: string,
  ): Promise<OAuthTokenSet & { readonly accountEmail: string | null }> {
    const tokens = await this.#token('code exchange', {
      grant_type: 'authorization_code',
      code,
      code_verifier: codeVerifier,
      redirect_uri: redirectUri,
    });
    return { ...this.#tokenSet(tokens, null), accountEmail: emailFromIdToken(tokens.id_token) };
  }

  async refreshTokens(refreshToken: string): Promise<OAuthTokenSet> {
    // Microsoft may rotate the refresh token: keep the new one when it sends one.
    return this.#tokenSet(
      await this.#token('token refresh', { grant_type: 'refresh_token', refresh_token: refreshToken }),
      refreshToken,
    );
  }

  /** The Microsoft identity platform has no endpoint to revoke a code-flow token: nothing to call. */
  async revoke(_token: string): Promise<boolean> {
    return false;
  }

  async #token(operation: string, fields: Record<string, string>): Promise<TokenResponse> {
    let response: Response;
    try {
      response = await fetch(this.#endpoint('token'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          client_id: this.#config.clientId,
          client_secret: this.#config.clientSecret,
          scope: MICROSOFT_SCOPES.join(' '),
          ...fields,
        }),
        signal: AbortSignal.timeout(this.#timeout),
      });
    } catch (error) {
      throw new ProviderRequestError('microsoft', `${operation} failed (${networkReason(error)})`);
    }
    const body = (await response.json().catch(() => ({}))) as TokenResponse;
    if (response.ok && body.access_token) return body;
    if (body.error === 'invalid_grant')
      throw new ProviderGrantError(
        'microsoft',
        `${operation}: the grant is invalid or revoked (invalid_grant)`,
        response.status,
      );
    if (response.status === 429 || (response.status === 503 && response.headers.has('retry-after'))) {
      throw new ProviderRateLimitError(
        'microsoft',
        `${operation}: rate limited (${response.status})`,
        response.status,
        parseRetryAfter(response.headers.get('retry-after')),
      );
    }
    const code = providerCode(body.error);
    throw new ProviderRequestError(
      'microsoft',
      `${operation} failed (${response.status}${code ? ` ${code}` : ''})`,
      response.status,
    );
  }

  #tokenSet(tokens: TokenResponse, previousRefreshToken: string | null): OAuthTokenSet {
    return {
      accessToken: tokens.access_token as string,
      refreshToken: tokens.refresh_token ?? previousRefreshToken,
      expiresAt: typeof tokens.expires_in === 'number' ? this.#clock() + tokens.expires_in * 1000 : null,
      scopes: (tokens.scope ?? '').split(' ').filter(Boolean),
    };
  }

  async listCalendars(accessToken: string): Promise<ProviderCalendar[]> {
    const calendars: ProviderCalendar[] = [];
    let next: string | undefined = '/me/calendars';
    for (let page = 0; page < MAX_PAGES && next; page++) {
      const url: string = next;
      // A client per page: each request gets its own timeout.
      const body: GraphPage<GraphCalendar> = await call(
        'calendar list',
        () => this.#graph(accessToken).api(url).get() as Promise<GraphPage<GraphCalendar>>,
      );
      for (const calendar of body.value ?? []) {
        if (!calendar.id) continue;
        calendars.push({
          id: calendar.id,
          name: calendar.name ?? calendar.id,
          primary: calendar.isDefaultCalendar === true,
          timeZone: null,
          canEdit: calendar.canEdit === true,
        });
      }
      next = body['@odata.nextLink'];
    }
    if (next) throw new ProviderRequestError('microsoft', `calendar list: more than ${MAX_PAGES} pages`);
    return calendars;
  }

  async syncEvents(accessToken: string, calendarId: string, syncState: string | null): Promise<SyncResult> {
    const changes: EventChange[] = [];
    const now = this.#clock();
    let next: string | undefined =
      syncState ??
      `/me/calendars/${encodeURIComponent(calendarId)}/calendarView/delta?${new URLSearchParams({
        startDateTime: new Date(now - SYNC_PAST_MS).toISOString(),
        endDateTime: new Date(now + SYNC_FUTURE_MS).toISOString(),
      })}`;
    for (let page = 0; page < MAX_PAGES && next; page++) {
      const url: string = next;
      const body: GraphPage<GraphEvent> = await call(
        'event sync',
        () =>
          this.#graph(accessToken)
            .api(url)
            .header('Prefer', 'odata.maxpagesize=50, outlook.timezone="UTC"')
            .get() as Promise<GraphPage<GraphEvent>>,
      );
      for (const event of body.value ?? []) {
        const change = eventChange(event);
        if (change) changes.push(change);
      }
      if (body['@odata.deltaLink'])
        return { changes, syncState: body['@odata.deltaLink'], fullSync: syncState === null };
      next = body['@odata.nextLink'];
      if (!next) throw new ProviderRequestError('microsoft', 'event sync: the last page carried no deltaLink');
    }
    throw new ProviderRequestError('microsoft', `event sync: more than ${MAX_PAGES} pages`);
  }
}

function eventChange(event: GraphEvent): EventChange | undefined {
  if (!event.id) return undefined;
  if (event['@removed'] || event.isCancelled) return { type: 'delete', eventId: event.id };
  const start = utc(event.start);
  const end = utc(event.end);
  if (!start || !end) return undefined;
  const showAs = event.showAs === 'free' ? 'free' : event.showAs === 'tentative' ? 'tentative' : 'busy';
  const block: BusyBlock = { eventId: event.id, start, end, allDay: event.isAllDay === true, showAs };
  return { type: 'upsert', block };
}

/** Graph date-times come without an offset; with `outlook.timezone="UTC"` they are UTC. */
function utc(time: GraphEvent['start']): string | undefined {
  if (!time?.dateTime) return undefined;
  const zone = time.timeZone ?? 'UTC';
  if (zone !== 'UTC' && zone !== 'Etc/UTC') return undefined;
  const text = /[zZ]|[+-]\d{2}:\d{2}$/.test(time.dateTime) ? time.dateTime : `${time.dateTime}Z`;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

async function call<T>(operation: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw toProviderError(error, operation);
  }
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network error';
}

/** A Graph client error in provider-errors terms. Messages name the operation and status, never a token. */
export function toProviderError(error: unknown, operation: string): ProviderError {
  if (error instanceof ProviderError) return error;
  if (!(error instanceof GraphError) || error.statusCode <= 0)
    return new ProviderRequestError('microsoft', `${operation} failed (${networkReason(error)})`);
  const status = error.statusCode;
  return providerFailure('microsoft', operation, {
    status,
    retryAfter: error.headers?.get('retry-after') ?? null,
    expiredSyncState:
      status === 410 ||
      error.code === 'syncStateNotFound' ||
      error.code === 'resyncRequired' ||
      error.code === 'SyncStateNotFound'
        ? 'delta link'
        : undefined,
    code: error.code,
  });
}
