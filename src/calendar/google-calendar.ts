// Google: the OAuth code flow through google-auth-library and Calendar v3 through
// @googleapis/calendar, every endpoint taken from configuration. The libraries' own retries are
// off so the sync alone decides when to retry (Retry-After, a refresh after 401).

import { calendar, type calendar_v3 } from '@googleapis/calendar';
import { CodeChallengeMethod, OAuth2Client, type Credentials } from 'google-auth-library';
import type { GoogleConfig } from '../config.js';
import type { AuthorizationRequest, BusyBlock, CalendarClient, EventChange, OAuthTokenSet, ProviderCalendar, SyncResult } from './calendar-client.js';
import {
  parseRetryAfter,
  ProviderAuthError,
  ProviderError,
  ProviderGrantError,
  ProviderRateLimitError,
  ProviderRequestError,
  SyncStateExpiredError,
} from './provider-errors.js';

/** What Entitle asks the user to grant: who they are, and read access to their calendars. */
export const GOOGLE_SCOPES = ['openid', 'email', 'https://www.googleapis.com/auth/calendar.readonly'] as const;

/** More pages than any real calendar has: a provider that never stops paging is a failure. */
const MAX_PAGES = 1000;
/** calendarList allows at most 250 a page; events allow more, but 250 keeps each answer quick. */
const PAGE_SIZE = 250;

export interface GoogleClientOptions {
  /** Per HTTP request, in ms (default 10 000). */
  readonly timeoutMs?: number;
}

/** Google Calendar through the official libraries; see CalendarClient for the contract. */
export class GoogleCalendarClient implements CalendarClient {
  readonly provider = 'google' as const;
  readonly #config: GoogleConfig;
  readonly #timeoutMs: number;
  /** Holds no user credentials: only the code exchange, revocation and auth URLs use it. */
  readonly #oauth: OAuth2Client;

  constructor(config: GoogleConfig, options: GoogleClientOptions = {}) {
    this.#config = config;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#oauth = this.#oauthClient();
  }

  /** A fresh OAuth2Client: credentials are per call, never shared between concurrent calls. */
  #oauthClient(credentials?: Credentials): OAuth2Client {
    const client = new OAuth2Client({
      clientId: this.#config.clientId,
      clientSecret: this.#config.clientSecret,
      redirectUri: this.#config.redirectUri,
      endpoints: { oauth2AuthBaseUrl: this.#config.authUrl, oauth2TokenUrl: this.#config.tokenUrl, oauth2RevokeUrl: this.#config.revokeUrl },
      // Token requests ask gaxios for retries ({retry: true, retryConfig: {...}}); gaxios deep-merges
      // these defaults under them, and retryConfig.retry = 0 is what actually stops the retrying.
      transporterOptions: { timeout: this.#timeoutMs, retry: false, retryConfig: { retry: 0 } },
    });
    if (credentials) client.setCredentials(credentials);
    return client;
  }

  /**
   * A Calendar API bound to one access token. The library keeps only the origin of rootUrl (it
   * resolves "/calendar/v3/…" against it), so GOOGLE_API_URL cannot carry a path prefix.
   */
  #api(accessToken: string): calendar_v3.Calendar {
    return calendar({
      version: 'v3',
      auth: this.#oauthClient({ access_token: accessToken }),
      rootUrl: `${this.#config.apiUrl.replace(/\/+$/, '')}/`,
      retry: false,
      timeout: this.#timeoutMs,
    });
  }

  authorizationUrl(request: AuthorizationRequest): string {
    return this.#oauth.generateAuthUrl({
      access_type: 'offline',
      // Without consent Google sends no refresh token when the user had granted access before.
      prompt: 'consent',
      include_granted_scopes: true,
      scope: [...GOOGLE_SCOPES],
      state: request.state,
      redirect_uri: request.redirectUri,
      code_challenge: request.codeChallenge,
      code_challenge_method: CodeChallengeMethod.S256,
      ...(request.loginHint ? { login_hint: request.loginHint } : {}),
    });
  }

  async exchangeCode(code: string, codeVerifier: string, redirectUri: string): Promise<OAuthTokenSet & { readonly accountEmail: string | null }> {
    try {
      const { tokens } = await this.#oauth.getToken({ code, codeVerifier, redirect_uri: redirectUri });
      return { ...tokenSet(tokens), accountEmail: emailFromIdToken(tokens.id_token) };
    } catch (error) {
      throw toProviderError(error, 'code exchange', { tokenEndpoint: true });
    }
  }

  async refreshTokens(refreshToken: string): Promise<OAuthTokenSet> {
    try {
      // refreshAccessToken puts the refresh token we gave back into the credentials; Google keeps
      // refresh tokens stable (it does not rotate them), so nothing is lost by that.
      const { credentials } = await this.#oauthClient({ refresh_token: refreshToken }).refreshAccessToken();
      return tokenSet({ ...credentials, refresh_token: credentials.refresh_token ?? refreshToken });
    } catch (error) {
      throw toProviderError(error, 'token refresh', { tokenEndpoint: true });
    }
  }

  async revoke(token: string): Promise<boolean> {
    try {
      await this.#oauth.revokeToken(token);
      return true;
    } catch (error) {
      // 400 invalid_token: already revoked or expired. The token is dead, which is what was asked.
      if (httpStatus(error) === 400 && oauthErrorCode(error) === 'invalid_token') return true;
      throw toProviderError(error, 'token revocation');
    }
  }

  async listCalendars(accessToken: string): Promise<ProviderCalendar[]> {
    const api = this.#api(accessToken);
    const calendars: ProviderCalendar[] = [];
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const { data } = await call('calendar list', () => api.calendarList.list({ maxResults: PAGE_SIZE, pageToken }));
      for (const entry of data.items ?? []) {
        if (!entry.id) continue;
        calendars.push({
          id: entry.id,
          name: entry.summaryOverride ?? entry.summary ?? entry.id,
          primary: entry.primary === true,
          timeZone: entry.timeZone ?? null,
          canEdit: entry.accessRole === 'owner' || entry.accessRole === 'writer',
        });
      }
      pageToken = data.nextPageToken ?? undefined;
      if (!pageToken) return calendars;
    }
    throw new ProviderRequestError('google', `calendar list: more than ${MAX_PAGES} pages`);
  }

  async syncEvents(accessToken: string, calendarId: string, syncState: string | null): Promise<SyncResult> {
    const api = this.#api(accessToken);
    const fullSync = syncState === null;
    const changes: EventChange[] = [];
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      // Google wants the same parameters on the full and the incremental listing, and refuses
      // showDeleted=false with a sync token: so deleted events are always asked for.
      const { data } = await call('event sync', () =>
        api.events.list({ calendarId, singleEvents: true, showDeleted: true, maxResults: PAGE_SIZE, syncToken: syncState ?? undefined, pageToken }),
      );
      for (const event of data.items ?? []) {
        const change = eventChange(event);
        // A full sync replaces what the caller had: deletions in it say nothing new.
        if (change && !(fullSync && change.type === 'delete')) changes.push(change);
      }
      pageToken = data.nextPageToken ?? undefined;
      if (pageToken) continue;
      if (!data.nextSyncToken) throw new ProviderRequestError('google', 'event sync: the last page carried no nextSyncToken');
      return { changes, syncState: data.nextSyncToken, fullSync };
    }
    throw new ProviderRequestError('google', `event sync: more than ${MAX_PAGES} pages`);
  }
}

function tokenSet(tokens: Credentials): OAuthTokenSet {
  if (!tokens.access_token) throw new ProviderRequestError('google', 'the token endpoint returned no access token');
  return {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token ?? null,
    expiresAt: tokens.expiry_date ?? null,
    scopes: (tokens.scope ?? '').split(' ').filter(Boolean),
  };
}

/**
 * The e-mail claim of an ID token, without checking its signature: the token came straight from
 * the configured token endpoint over TLS in answer to our own request, and the address is only
 * shown to the user, never used to authorize anything.
 */
export function emailFromIdToken(idToken: string | null | undefined): string | null {
  const payload = idToken?.split('.')[1];
  if (!payload) return null;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const email = typeof claims === 'object' && claims !== null ? (claims as { email?: unknown }).email : undefined;
    return typeof email === 'string' && email !== '' ? email : null;
  } catch {
    return null;
  }
}

function eventChange(event: calendar_v3.Schema$Event): EventChange | undefined {
  if (!event.id) return undefined;
  if (event.status === 'cancelled') return { type: 'delete', eventId: event.id };
  const start = instant(event.start);
  const end = instant(event.end);
  // An event without usable times blocks no time; failing the whole sync over it would block all.
  if (!start || !end) return undefined;
  const showAs: BusyBlock['showAs'] = event.transparency === 'transparent' ? 'free' : event.status === 'tentative' ? 'tentative' : 'busy';
  return { type: 'upsert', block: { eventId: event.id, start: start.iso, end: end.iso, allDay: start.allDay, showAs } };
}

function instant(time: calendar_v3.Schema$EventDateTime | undefined): { iso: string; allDay: boolean } | undefined {
  if (time?.dateTime) {
    const ms = Date.parse(time.dateTime);
    return Number.isNaN(ms) ? undefined : { iso: new Date(ms).toISOString(), allDay: false };
  }
  // All-day events have dates without a zone: midnight UTC by the interface's convention.
  if (time?.date && /^\d{4}-\d{2}-\d{2}$/.test(time.date)) return { iso: `${time.date}T00:00:00.000Z`, allDay: true };
  return undefined;
}

async function call<T>(operation: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw toProviderError(error, operation);
  }
}

// Reading library errors. Both gaxios copies in the tree (google-auth-library's and
// googleapis-common's) throw GaxiosError, but `instanceof` only matches its own version, so
// errors are read by shape: status, response.data and response.headers (a fetch Headers in gaxios 7).

interface ErrorShape {
  readonly status?: unknown;
  readonly code?: unknown;
  readonly response?: { readonly status?: unknown; readonly data?: unknown; readonly headers?: unknown };
}

function httpStatus(error: unknown): number | null {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as ErrorShape;
  const status = shape.response?.status ?? shape.status;
  return typeof status === 'number' ? status : null;
}

function responseData(error: unknown): Record<string, unknown> | undefined {
  const data = (error as ErrorShape | null)?.response?.data;
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : undefined;
}

/** OAuth errors look like {"error": "invalid_grant", "error_description": "..."}. */
function oauthErrorCode(error: unknown): string | undefined {
  const code = responseData(error)?.error;
  return typeof code === 'string' && /^[a-z_]{1,64}$/.test(code) ? code : undefined;
}

/** API errors look like {"error": {"code": 403, "errors": [{"reason": "rateLimitExceeded"}], "details": [...]}}. */
function apiReasons(error: unknown): string[] {
  const body = responseData(error)?.error;
  if (typeof body !== 'object' || body === null) return [];
  const { errors, details } = body as { errors?: unknown; details?: unknown };
  return [errors, details]
    .flatMap((list) => (Array.isArray(list) ? (list as unknown[]) : []))
    .map((item) => (typeof item === 'object' && item !== null ? (item as { reason?: unknown }).reason : undefined))
    .filter((reason): reason is string => typeof reason === 'string' && /^\w{1,64}$/.test(reason));
}

function responseHeader(error: unknown, name: string): string | null {
  const headers = (error as ErrorShape | null)?.response?.headers;
  if (typeof headers !== 'object' || headers === null) return null;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  const entry = Object.entries(headers).find(([key]) => key.toLowerCase() === name);
  return typeof entry?.[1] === 'string' ? entry[1] : null;
}

const RATE_LIMIT_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'RATE_LIMIT_EXCEEDED']);

/**
 * A library error in provider-errors terms. Messages are built only from the operation, the
 * status and short error codes: never from the library's message, whose URL may hold a token.
 */
export function toProviderError(error: unknown, operation: string, { tokenEndpoint = false } = {}): ProviderError {
  if (error instanceof ProviderError) return error;
  const status = httpStatus(error);
  const oauthError = oauthErrorCode(error);
  const reasons = apiReasons(error);
  if (tokenEndpoint && oauthError === 'invalid_grant') return new ProviderGrantError('google', `${operation}: the grant is invalid, expired or revoked (invalid_grant)`, status);
  if (status === 401) return new ProviderAuthError('google', `${operation}: the access token was rejected (401)`, status);
  const retryAfter = responseHeader(error, 'retry-after');
  if (status === 429 || (status === 403 && reasons.some((reason) => RATE_LIMIT_REASONS.has(reason))) || (status === 503 && retryAfter !== null)) {
    return new ProviderRateLimitError('google', `${operation}: rate limited (${status})`, status, parseRetryAfter(retryAfter));
  }
  if (status === 410) return new SyncStateExpiredError('google', `${operation}: the sync token is no longer valid (410)`, status);
  if (status !== null) return new ProviderRequestError('google', `${operation} failed (${[status, oauthError ?? reasons[0]].filter(Boolean).join(' ')})`, status);
  const code = (error as ErrorShape | null)?.code;
  return new ProviderRequestError('google', `${operation} failed (${typeof code === 'string' && /^\w{1,40}$/.test(code) ? code : 'no response'})`);
}
