// Google: the OAuth code flow through google-auth-library and Calendar v3 through the
// googleapis project's per-API package. Every endpoint comes from configuration, and the
// libraries' own retries are off: the sync decides when to retry (Retry-After, refresh).

import { calendar, type calendar_v3 } from '@googleapis/calendar';
import { gaxios, OAuth2Client, type Credentials } from 'google-auth-library';
import type { GoogleConfig } from '../config.js';
import { emailFromIdToken } from './id-token.js';
import type {
  AuthorizationRequest,
  BusyBlock,
  CalendarClient,
  EventChange,
  OAuthTokenSet,
  ProviderCalendar,
  SyncResult,
} from './calendar-client.js';
import { providerCode, ProviderError, providerFailure, ProviderRequestError } from './provider-errors.js';

export const GOOGLE_SCOPES = ['openid', 'email', 'https://www.googleapis.com/auth/calendar.readonly'] as const;

/** More pages than any real calendar has: a provider that never stops paging is a failure. */
const MAX_PAGES = 1000;

export interface GoogleClientOptions {
  readonly timeoutMs?: number;
}

export class GoogleCalendarClient implements CalendarClient {
  readonly provider = 'google' as const;
  readonly #config: GoogleConfig;
  readonly #timeout: number;
  readonly #transporter: gaxios.Gaxios;
  readonly #oauth: OAuth2Client;

  constructor(config: GoogleConfig, options: GoogleClientOptions = {}) {
    this.#config = config;
    this.#timeout = options.timeoutMs ?? 10_000;
    // google-auth-library asks gaxios to retry token requests by itself; we don't want that.
    this.#transporter = new gaxios.Gaxios({ timeout: this.#timeout });
    this.#transporter.interceptors.request.add({
      resolved: async (request) => Object.assign(request, { retry: false, retryConfig: undefined }),
    });
    this.#oauth = this.#newOAuthClient();
  }

  #newOAuthClient(credentials?: Credentials): OAuth2Client {
    const client = new OAuth2Client({
      clientId: this.#config.clientId,
      clientSecret: this.#config.clientSecret,
      redirectUri: this.#config.redirectUri,
      transporter: this.#transporter,
      endpoints: {
        oauth2AuthBaseUrl: this.#config.authUrl,
        oauth2TokenUrl: this.#config.tokenUrl,
        oauth2RevokeUrl: this.#config.revokeUrl,
      },
    });
    if (credentials) client.setCredentials(credentials);
    return client;
  }

  /** A Calendar API client that authenticates with one access token (never shared between calls). */
  #api(accessToken: string): calendar_v3.Calendar {
    return calendar({
      version: 'v3',
      auth: this.#newOAuthClient({ access_token: accessToken }),
      rootUrl: withSlash(this.#config.apiUrl),
    });
  }

  authorizationUrl(request: AuthorizationRequest): string {
    return this.#oauth.generateAuthUrl({
      access_type: 'offline',
      prompt: 'consent',
      include_granted_scopes: true,
      scope: [...GOOGLE_SCOPES],
      state: request.state,
      redirect_uri: request.redirectUri,
      code_challenge: request.codeChallenge,
      code_challenge_method: 'S256' as never,
      ...(request.loginHint ? { login_hint: request.loginHint } : {}),
    });
  }

  async exchangeCode(
    code: string,
    codeVerifier: string,
    redirectUri: string,
  ): Promise<OAuthTokenSet & { readonly accountEmail: string | null }> {
    try {
      const { tokens } = await this.#oauth.getToken({ code, codeVerifier, redirect_uri: redirectUri });
      return { ...tokenSet(tokens), accountEmail: emailFromIdToken(tokens.id_token) };
    } catch (error) {
      throw toProviderError(error, 'code exchange', true);
    }
  }

  async refreshTokens(refreshToken: string): Promise<OAuthTokenSet> {
    try {
      const client = this.#newOAuthClient({ refresh_token: refreshToken });
      const { credentials } = await client.refreshAccessToken();
      // Google usually keeps the refresh token the same and does not send it again.
      return tokenSet({ ...credentials, refresh_token: credentials.refresh_token ?? refreshToken });
    } catch (error) {
      throw toProviderError(error, 'token refresh', true);
    }
  }

  async revoke(token: string): Promise<boolean> {
    try {
      await this.#oauth.revokeToken(token);
      return true;
    } catch (error) {
      // Already revoked or expired: the token is dead either way, which is what was asked.
      if (
        error instanceof gaxios.GaxiosError &&
        statusOf(error) === 400 &&
        /invalid_token/.test(JSON.stringify(error.response?.data ?? ''))
      )
        return true;
      throw toProviderError(error, 'token revocation');
    }
  }

  async listCalendars(accessToken: string): Promise<ProviderCalendar[]> {
    const api = this.#api(accessToken);
    const calendars: ProviderCalendar[] = [];
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const response = await call('calendar list', () =>
        api.calendarList.list(
          { maxResults: 250, ...(pageToken ? { pageToken } : {}) },
          { retry: false, timeout: this.#timeout },
        ),
      );
      for (const entry of response.data.items ?? []) {
        if (!entry.id) continue;
        calendars.push({
          id: entry.id,
          name: entry.summaryOverride ?? entry.summary ?? entry.id,
          primary: entry.primary === true,
          timeZone: entry.timeZone ?? null,
          canEdit: entry.accessRole === 'owner' || entry.accessRole === 'writer',
        });
      }
      pageToken = response.data.nextPageToken ?? undefined;
      if (!pageToken) return calendars;
    }
    throw new ProviderRequestError('google', `calendar list: more than ${MAX_PAGES} pages`);
  }

  async syncEvents(accessToken: string, calendarId: string, syncState: string | null): Promise<SyncResult> {
    const api = this.#api(accessToken);
    const changes: EventChange[] = [];
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const response = await call('event sync', () =>
        api.events.list(
          {
            calendarId,
            singleEvents: true,
            showDeleted: syncState !== null,
            maxResults: 250,
            ...(syncState !== null ? { syncToken: syncState } : {}),
            ...(pageToken ? { pageToken } : {}),
          },
          { retry: false, timeout: this.#timeout },
        ),
      );
      for (const event of response.data.items ?? []) {
        const change = eventChange(event);
        if (change) changes.push(change);
      }
      pageToken = response.data.nextPageToken ?? undefined;
      if (!pageToken) {
        const next = response.data.nextSyncToken;
        if (!next) throw new ProviderRequestError('google', 'event sync: the last page carried no nextSyncToken');
        return { changes, syncState: next, fullSync: syncState === null };
      }
    }
    throw new ProviderRequestError('google', `event sync: more than ${MAX_PAGES} pages`);
  }
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
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

function eventChange(event: calendar_v3.Schema$Event): EventChange | undefined {
  if (!event.id) return undefined;
  if (event.status === 'cancelled') return { type: 'delete', eventId: event.id };
  const start = instant(event.start);
  const end = instant(event.end);
  if (!start || !end) return undefined;
  const block: BusyBlock = {
    eventId: event.id,
    start: start.iso,
    end: end.iso,
    allDay: start.allDay,
    showAs: event.transparency === 'transparent' ? 'free' : event.status === 'tentative' ? 'tentative' : 'busy',
  };
  return { type: 'upsert', block };
}

function instant(time: calendar_v3.Schema$EventDateTime | undefined): { iso: string; allDay: boolean } | undefined {
  if (time?.dateTime) {
    const ms = Date.parse(time.dateTime);
    return Number.isNaN(ms) ? undefined : { iso: new Date(ms).toISOString(), allDay: false };
  }
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

function statusOf(error: gaxios.GaxiosError): number | undefined {
  return error.status ?? error.response?.status;
}

/** A library error in provider-errors terms. Messages name the operation and status, never a token. */
export function toProviderError(error: unknown, operation: string, tokenEndpoint = false): ProviderError {
  if (error instanceof ProviderError) return error;
  if (!(error instanceof gaxios.GaxiosError)) {
    const reason =
      error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'network error';
    return new ProviderRequestError('google', `${operation} failed (${reason})`);
  }
  const status = statusOf(error);
  // No answer to read (the request never got one): gaxios's error code says why.
  if (!status)
    return new ProviderRequestError(
      'google',
      `${operation} failed (${providerCode(error.code) ?? 'no response'})`,
      status ?? null,
    );
  const data = error.response?.data as { error?: unknown; error_description?: unknown } | undefined;
  const oauthError = typeof data?.error === 'string' ? data.error : undefined;
  const apiError =
    typeof data?.error === 'object' && data.error !== null
      ? (data.error as { message?: unknown; errors?: { reason?: unknown }[] })
      : undefined;
  const reason = typeof apiError?.errors?.[0]?.reason === 'string' ? apiError.errors[0].reason : undefined;
  return providerFailure('google', operation, {
    status,
    retryAfter: error.response?.headers?.get?.('retry-after') ?? null,
    grantRevoked: tokenEndpoint && oauthError === 'invalid_grant',
    rateLimited: status === 403 && (reason === 'rateLimitExceeded' || reason === 'userRateLimitExceeded'),
    expiredSyncState: status === 410 ? 'sync token' : undefined,
    // Codes only: Google's free-text message may echo the request, tokens included.
    code: providerCode(oauthError) ?? reason,
  });
}
