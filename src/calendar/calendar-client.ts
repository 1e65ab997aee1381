// What Entitle needs from a calendar provider (Google, Microsoft): the OAuth code flow with
// PKCE, token refresh and revocation, the user's calendars, and incremental event sync.

import type { CalendarProviderName, EventChange } from '../store/calendar-shapes.js';

export type { BusyBlock, CalendarProviderName, EventChange } from '../store/calendar-shapes.js';

/** Tokens as a provider returns them. Never log these. */
export interface OAuthTokenSet {
  readonly accessToken: string;
  /** Null when the provider did not return one (a refresh may keep the old one). */
  readonly refreshToken: string | null;
  /** When the access token expires, in ms since the epoch; null when the provider did not say. */
  readonly expiresAt: number | null;
  readonly scopes: readonly string[];
}

/** What goes into the authorization URL the user is sent to. */
export interface AuthorizationRequest {
  /** Opaque, single-use; comes back unchanged on the callback. */
  readonly state: string;
  /** base64url(SHA-256(code_verifier)): PKCE S256. */
  readonly codeChallenge: string;
  readonly redirectUri: string;
  readonly loginHint?: string;
}

/** A calendar of the connected account. */
export interface ProviderCalendar {
  readonly id: string;
  readonly name: string;
  readonly primary: boolean;
  readonly timeZone: string | null;
  readonly canEdit: boolean;
}

/** One sync pass over one calendar. */
export interface SyncResult {
  readonly changes: readonly EventChange[];
  /** Where the next incremental sync starts (Google nextSyncToken, Graph @odata.deltaLink). */
  readonly syncState: string;
  /** True when this pass was a full sync (no state was given): the caller replaces what it had. */
  readonly fullSync: boolean;
}

/**
 * One provider's client. Implementations use the provider's official client library, with every
 * base URL configurable so tests and self-hosted proxies can point them elsewhere. Errors are
 * the classes of provider-errors.ts, never raw library errors.
 */
export interface CalendarClient {
  readonly provider: CalendarProviderName;
  /** The URL to send the user to for consent (authorization code flow with PKCE S256, offline access). */
  authorizationUrl(request: AuthorizationRequest): string;
  /** Exchanges an authorization code (with the PKCE verifier) for tokens and the account's e-mail. */
  exchangeCode(
    code: string,
    codeVerifier: string,
    redirectUri: string,
  ): Promise<OAuthTokenSet & { readonly accountEmail: string | null }>;
  /** A new access token from a refresh token. Throws ProviderGrantError when the grant is gone. */
  refreshTokens(refreshToken: string): Promise<OAuthTokenSet>;
  /** Revokes a token at the provider. Returns false when the provider has no revocation endpoint. */
  revoke(token: string): Promise<boolean>;
  listCalendars(accessToken: string): Promise<ProviderCalendar[]>;
  /**
   * Events changed since `syncState` (null: a full sync). Follows pagination to the end.
   * Throws SyncStateExpiredError when the provider no longer accepts the state (Google 410).
   */
  syncEvents(accessToken: string, calendarId: string, syncState: string | null): Promise<SyncResult>;
}
