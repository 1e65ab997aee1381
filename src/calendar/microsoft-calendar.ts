// Microsoft: the identity platform v2 code flow with PKCE (plain fetch to the token endpoint) and
// Microsoft Graph through the official @microsoft/microsoft-graph-client, with every failure
// turned into a provider error that names the operation and never carries a token.

import {
  AuthenticationHandler,
  Client,
  GraphError,
  HTTPMessageHandler,
  RedirectHandler,
  type Context,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import type { MicrosoftConfig } from '../config.js';
import type { AuthorizationRequest, BusyBlock, CalendarClient, EventChange, OAuthTokenSet, ProviderCalendar, SyncResult } from './calendar-client.js';
import {
  parseRetryAfter,
  ProviderAuthError,
  ProviderGrantError,
  ProviderRateLimitError,
  ProviderRequestError,
  SyncStateExpiredError,
  type ProviderError,
} from './provider-errors.js';

/** Sign-in, a refresh token (offline_access), and read access to the user's calendars. */
export const MICROSOFT_SCOPES = ['openid', 'email', 'offline_access', 'User.Read', 'Calendars.Read'] as const;

export interface MicrosoftCalendarOptions {
  /** Per HTTP request, in ms (default 10 000). */
  readonly timeoutMs?: number;
}

/** Paging is bounded so a provider that keeps sending next links cannot keep us busy forever. */
const MAX_PAGES = 1000;
/** A full sync covers the recent past and the coming year. */
const SYNC_PAST_MS = 30 * 86_400_000;
const SYNC_FUTURE_MS = 365 * 86_400_000;
/** Graph answers with UTC date-times (without an offset) only when asked to. */
const SYNC_PREFER = 'odata.maxpagesize=50, outlook.timezone="UTC"';
/** Graph error codes of a delta link that is no longer accepted (410, or 400 for some resources). */
const EXPIRED_SYNC_CODES = new Set(['syncstatenotfound', 'resyncrequired']);

type Json = Record<string, unknown>;

export class MicrosoftCalendarClient implements CalendarClient {
  readonly provider = 'microsoft' as const;
  readonly #config: MicrosoftConfig;
  readonly #timeoutMs: number;
  readonly #graphUrl: URL;

  constructor(config: MicrosoftConfig, options: MicrosoftCalendarOptions = {}) {
    this.#config = config;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#graphUrl = new URL(config.graphUrl);
    // The Graph client attaches the access token only to https URLs: over http every call would be a puzzling 401.
    if (this.#graphUrl.protocol !== 'https:') throw new Error(`options.graphUrl should be an https URL (got ${config.graphUrl})`);
  }

  authorizationUrl(request: AuthorizationRequest): string {
    const url = new URL(this.#endpoint('authorize'));
    url.search = new URLSearchParams({
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
    }).toString();
    return url.toString();
  }

  async exchangeCode(code: string, codeVerifier: string, redirectUri: string): Promise<OAuthTokenSet & { readonly accountEmail: string | null }> {
    const body = await this.#token('code exchange', { grant_type: 'authorization_code', code, code_verifier: codeVerifier, redirect_uri: redirectUri });
    return { ...tokenSet(body, null), accountEmail: accountEmail(body.id_token) };
  }

  async refreshTokens(refreshToken: string): Promise<OAuthTokenSet> {
    // Microsoft usually rotates the refresh token: the new one replaces the old, which may stop working.
    return tokenSet(await this.#token('token refresh', { grant_type: 'refresh_token', refresh_token: refreshToken }), refreshToken);
  }

  /** Always false: the identity platform has no endpoint to revoke a code-flow token, so nothing is sent. */
  async revoke(_token: string): Promise<boolean> {
    return false;
  }

  async listCalendars(accessToken: string): Promise<ProviderCalendar[]> {
    const graph = this.#graph(accessToken);
    const calendars: ProviderCalendar[] = [];
    let next: string | undefined = '/me/calendars';
    for (let page = 0; next !== undefined; page++) {
      if (page === MAX_PAGES) throw new ProviderRequestError('microsoft', `calendar list: more than ${MAX_PAGES} pages`);
      const body = await graph.get('calendar list', next);
      for (const item of list(body.value)) {
        if (typeof item.id !== 'string') continue;
        const name = typeof item.name === 'string' ? item.name : item.id;
        calendars.push({ id: item.id, name, primary: item.isDefaultCalendar === true, timeZone: null, canEdit: item.canEdit === true });
      }
      next = this.#link(body['@odata.nextLink'], 'calendar list');
    }
    return calendars;
  }

  async syncEvents(accessToken: string, calendarId: string, syncState: string | null): Promise<SyncResult> {
    const graph = this.#graph(accessToken);
    const changes: EventChange[] = [];
    let next = syncState === null ? fullSyncPath(calendarId, Date.now()) : this.#link(syncState, 'event sync');
    for (let page = 0; page < MAX_PAGES && next !== undefined; page++) {
      const body = await graph.get('event sync', next, { Prefer: SYNC_PREFER });
      for (const item of list(body.value)) {
        const change = eventChange(item);
        if (change) changes.push(change);
      }
      const deltaLink = this.#link(body['@odata.deltaLink'], 'event sync');
      if (deltaLink !== undefined) return { changes, syncState: deltaLink, fullSync: syncState === null };
      next = this.#link(body['@odata.nextLink'], 'event sync');
      if (next === undefined) throw new ProviderRequestError('microsoft', 'event sync: a page had neither a next nor a delta link');
    }
    throw new ProviderRequestError('microsoft', `event sync: more than ${MAX_PAGES} pages`);
  }

  #endpoint(name: 'authorize' | 'token'): string {
    return `${this.#config.authorityUrl.replace(/\/+$/, '')}/${encodeURIComponent(this.#config.tenant)}/oauth2/v2.0/${name}`;
  }

  async #token(operation: string, fields: Record<string, string>): Promise<Json> {
    let response: Response;
    try {
      response = await fetch(this.#endpoint('token'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ client_id: this.#config.clientId, client_secret: this.#config.clientSecret, scope: MICROSOFT_SCOPES.join(' '), ...fields }),
        // The body holds the client secret: it goes to the configured endpoint only.
        redirect: 'error',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new ProviderRequestError('microsoft', `${operation} failed (${networkReason(error)})`);
    }
    const body = (await response.json().catch(() => ({}))) as unknown;
    const json: Json = body !== null && typeof body === 'object' ? (body as Json) : {};
    if (response.ok && typeof json.access_token === 'string' && json.access_token !== '') return json;
    // AADSTS errors (used or expired code, wrong PKCE verifier, revoked refresh token) all say invalid_grant.
    if (json.error === 'invalid_grant') throw new ProviderGrantError('microsoft', `${operation}: the grant is invalid or revoked (invalid_grant)`, response.status);
    if (response.status === 429 || (response.status === 503 && response.headers.has('retry-after'))) {
      throw new ProviderRateLimitError('microsoft', `${operation}: rate limited (${response.status})`, response.status, parseRetryAfter(response.headers.get('retry-after')));
    }
    const code = typeof json.error === 'string' ? safeCode(json.error) : response.ok ? 'no access token' : '';
    throw new ProviderRequestError('microsoft', `${operation} failed (${response.status}${code ? ` ${code}` : ''})`, response.status);
  }

  /** A Graph client for one access token and one operation; its requests run one after another. */
  #graph(accessToken: string): GraphSession {
    const recorder = new ResponseRecorder();
    // The library's default chain retries 429/503 on its own; without its RetryHandler the sync decides.
    const client = Client.initWithMiddleware({
      middleware: [new AuthenticationHandler({ getAccessToken: async () => accessToken }), recorder, new RedirectHandler(), new HTTPMessageHandler()],
      baseUrl: this.#graphUrl.origin,
      defaultVersion: 'v1.0',
      // The token is attached only to Graph's own hosts and these; the port is not part of the match.
      customHosts: new Set([this.#graphUrl.hostname]),
    });
    return {
      get: async (operation, path, headers = {}) => {
        try {
          const body = (await client.api(path).headers(headers).option('signal', AbortSignal.timeout(this.#timeoutMs)).get()) as unknown;
          if (body === null || typeof body !== 'object') throw new ProviderRequestError('microsoft', `${operation}: the answer was not a JSON object`);
          return body as Json;
        } catch (error) {
          throw graphFailure(error, operation, recorder);
        }
      },
    };
  }

  /** A next or delta link, which must stay on the configured Graph origin (and so keep its token). */
  #link(value: unknown, operation: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string' && URL.canParse(value) && new URL(value).origin === this.#graphUrl.origin) return value;
    throw new ProviderRequestError('microsoft', `${operation}: a paging link does not point at ${this.#graphUrl.origin}`);
  }
}

interface GraphSession {
  get(operation: string, path: string, headers?: Record<string, string>): Promise<Json>;
}

/**
 * Remembers the last response or network failure of its chain. GraphError keeps the response
 * headers (Retry-After) only when the error body was JSON, and drops the cause of a network error.
 */
class ResponseRecorder implements Middleware {
  response: Response | undefined;
  failure: string | undefined;
  #next: Middleware | undefined;

  async execute(context: Context): Promise<void> {
    this.response = undefined;
    this.failure = undefined;
    if (!this.#next) throw new Error('ResponseRecorder has no next middleware');
    try {
      await this.#next.execute(context);
    } catch (error) {
      this.failure = networkReason(error);
      throw error;
    }
    this.response = context.response;
  }

  setNext(next: Middleware): void {
    this.#next = next;
  }
}

/** A Graph client failure in provider-errors terms. */
function graphFailure(error: unknown, operation: string, recorder: ResponseRecorder): ProviderError {
  if (error instanceof ProviderRequestError) return error;
  const status = error instanceof GraphError && error.statusCode > 0 ? error.statusCode : null;
  if (status === null) return new ProviderRequestError('microsoft', `${operation} failed (${recorder.failure ?? networkReason(error)})`);
  const code = safeCode((error as GraphError).code ?? '');
  const retryAfter = ((error as GraphError).headers ?? recorder.response?.headers)?.get('retry-after') ?? null;
  if (status === 401) return new ProviderAuthError('microsoft', `${operation}: access token rejected (401)`, status);
  if (status === 429 || (status === 503 && retryAfter !== null)) {
    return new ProviderRateLimitError('microsoft', `${operation}: rate limited (${status})`, status, parseRetryAfter(retryAfter));
  }
  if (status === 410 || EXPIRED_SYNC_CODES.has(code.toLowerCase())) {
    return new SyncStateExpiredError('microsoft', `${operation}: the delta link is no longer valid (${status}${code ? ` ${code}` : ''})`, status);
  }
  return new ProviderRequestError('microsoft', `${operation} failed (${status}${code ? ` ${code}` : ''})`, status);
}

function fullSyncPath(calendarId: string, now: number): string {
  const window = new URLSearchParams({ startDateTime: new Date(now - SYNC_PAST_MS).toISOString(), endDateTime: new Date(now + SYNC_FUTURE_MS).toISOString() });
  return `/me/calendars/${encodeURIComponent(calendarId)}/calendarView/delta?${window}`;
}

function eventChange(event: Json): EventChange | undefined {
  if (typeof event.id !== 'string') return undefined;
  if (event['@removed'] !== undefined || event.isCancelled === true) return { type: 'delete', eventId: event.id };
  const start = utc(event.start);
  const end = utc(event.end);
  if (start === undefined || end === undefined) throw new ProviderRequestError('microsoft', 'event sync: an event has a start or end that is not a UTC date-time');
  // Out of office and working elsewhere block the time like busy; so does anything new.
  const showAs = event.showAs === 'free' ? 'free' : event.showAs === 'tentative' ? 'tentative' : 'busy';
  const block: BusyBlock = { eventId: event.id, start, end, allDay: event.isAllDay === true, showAs };
  return { type: 'upsert', block };
}

/**
 * A Graph dateTimeTimeZone as ISO 8601 UTC. With `outlook.timezone="UTC"` the date-time has no
 * offset and the zone is UTC; anything else means the preference was ignored, and guessing the
 * offset of a Windows zone name would put busy time at the wrong hour, so it is refused.
 */
function utc(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { dateTime, timeZone } = value as Json;
  if (typeof dateTime !== 'string' || (timeZone !== undefined && timeZone !== 'UTC' && timeZone !== 'Etc/UTC')) return undefined;
  const ms = Date.parse(/(Z|[+-]\d{2}:\d{2})$/i.test(dateTime) ? dateTime : `${dateTime}Z`);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function tokenSet(body: Json, previousRefreshToken: string | null): OAuthTokenSet {
  const expiresIn = Number(body.expires_in);
  return {
    accessToken: body.access_token as string,
    refreshToken: typeof body.refresh_token === 'string' && body.refresh_token !== '' ? body.refresh_token : previousRefreshToken,
    expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + expiresIn * 1000 : null,
    scopes: typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : [],
  };
}

/**
 * The account's e-mail from the ID token's claims. The signature is not checked: the token came
 * straight from the token endpoint over TLS, which OpenID Connect Core 3.1.3.7 accepts instead.
 * preferred_username is used only when it looks like an address (it can be a phone number).
 */
function accountEmail(idToken: unknown): string | null {
  const payload = typeof idToken === 'string' ? idToken.split('.')[1] : undefined;
  if (!payload) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Json;
    for (const claim of [claims.email, claims.preferred_username]) if (typeof claim === 'string' && claim.includes('@')) return claim;
    return null;
  } catch {
    return null;
  }
}

function list(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter((item): item is Json => item !== null && typeof item === 'object') : [];
}

/** Error codes from the wire go into messages only when they look like codes. */
function safeCode(code: string): string {
  return /^[A-Za-z0-9_.]{1,64}$/.test(code) ? code : '';
}

/** A short reason for a failed fetch: the system error code (ECONNREFUSED, a certificate problem) or timeout. */
function networkReason(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'timeout';
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? safeCode(cause.code) || 'network error' : 'network error';
}
