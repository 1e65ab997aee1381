// What the fake Google and Microsoft servers have in common, so route tests can run the same
// scenarios against either provider. Each fake is a real HTTP(S) server on 127.0.0.1 speaking
// the provider's wire protocol; the real client libraries talk to it.

import type { CalendarProviderName } from '../../src/calendar/calendar-client.js';

/** A calendar of a fake account. */
export interface FakeCalendar {
  id: string;
  name: string;
  primary?: boolean;
  timeZone?: string;
  canEdit?: boolean;
}

/** An event of a fake calendar, provider-neutral; each fake renders it in its own JSON. */
export interface FakeEvent {
  id: string;
  /** ISO 8601 date-time (or YYYY-MM-DD with allDay). */
  start: string;
  end: string;
  allDay?: boolean;
  showAs?: 'busy' | 'tentative' | 'free';
}

/** A canned answer for the next matching request(s). */
export interface FakeFailure {
  method?: string;
  /** Matched against the request path (without query string). */
  path: string | RegExp;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many matching requests get this answer (default 1). */
  times?: number;
  /** How many matching requests pass through unharmed first (default 0): fails a later page. */
  after?: number;
}

export interface RecordedRequest {
  method: string;
  /** Path and query string. */
  url: string;
  authorization: string | undefined;
  /** Parsed form or JSON body, when there was one. */
  body: unknown;
}

export interface FakeProvider {
  readonly provider: CalendarProviderName;
  /** e.g. http://127.0.0.1:4321 (Google) or https://127.0.0.1:4322 (Microsoft). */
  readonly baseUrl: string;
  /** Environment for loadConfig: client id/secret/redirect URI and every base URL pointing at this fake. */
  readonly env: Readonly<Record<string, string>>;
  /** Every request received, in order. */
  readonly requests: readonly RecordedRequest[];
  /** Every access and refresh token the fake ever issued. */
  readonly issuedTokens: readonly string[];
  /** Tokens the revoke endpoint was called with (Google); always empty for Microsoft. */
  readonly revokedTokens: readonly string[];

  /**
   * Plays the user's consent: checks client id, redirect URI, PKCE S256 challenge and scopes of an
   * authorization URL from the client, creates the account if needed, and returns the code the
   * provider would redirect back with (single-use; the token endpoint checks the PKCE verifier).
   */
  authorize(authorizationUrl: string, account?: { email?: string }): { code: string; state: string };
  /** Sets the calendars of an account (default account: "user@example.com", one primary calendar "primary"). */
  setCalendars(email: string, calendars: FakeCalendar[]): void;
  /** Adds or changes an event; it shows up in the next incremental sync. */
  putEvent(email: string, calendarId: string, event: FakeEvent): void;
  /** Deletes an event; the next incremental sync reports it deleted. */
  deleteEvent(email: string, calendarId: string, eventId: string): void;
  /** Forgets every sync token / delta link: the next incremental sync gets Google 410 / Graph 410 (syncStateNotFound). */
  expireSyncState(): void;
  /** Makes every access token issued so far invalid (401), as if it had expired. */
  expireAccessTokens(): void;
  /** Makes every refresh token invalid (invalid_grant), as if the user revoked access. */
  revokeGrants(): void;
  /** Answers the next matching request(s) with the given failure instead. */
  failNext(failure: FakeFailure): void;
  /** Access tokens currently valid. */
  validAccessTokens(): string[];
  close(): Promise<void>;
}
