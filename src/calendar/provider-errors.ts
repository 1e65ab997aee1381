// Failures of a calendar provider, in terms the sync and the routes act on. Messages name the
// provider and what failed; they never contain tokens.

import type { CalendarProviderName } from './calendar-client.js';

/** Base class: something went wrong talking to a provider. */
export class ProviderError extends Error {
  constructor(
    readonly provider: CalendarProviderName,
    message: string,
    /** The provider's HTTP status, when there was one. */
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The access token was rejected (401): refresh and try once more. */
export class ProviderAuthError extends ProviderError {}

/** The refresh token (the grant) is invalid or revoked: the user must connect again. */
export class ProviderGrantError extends ProviderError {}

/** The provider asked us to slow down (429, or 503 with Retry-After). */
export class ProviderRateLimitError extends ProviderError {
  constructor(
    provider: CalendarProviderName,
    message: string,
    status: number,
    /** From Retry-After (seconds or an HTTP date), in ms; null when absent. */
    readonly retryAfterMs: number | null,
  ) {
    super(provider, message, status);
  }
}

/** The sync state (Google sync token, Graph delta link) is no longer valid: sync in full. */
export class SyncStateExpiredError extends ProviderError {}

/** Any other failure: 5xx, a malformed answer, a network error. */
export class ProviderRequestError extends ProviderError {}

/**
 * A provider's error code, fit for a message: a short identifier such as invalid_grant, notFound
 * or ErrorItemNotFound. Anything else is dropped: providers echo request data in their error
 * texts, tokens included, and a message reaches responses, logs and the audit log.
 */
export function providerCode(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z_.]{1,64}$/.test(value) ? value : undefined;
}

/** Parses Retry-After (delta-seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value === null || value === undefined || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** A provider's failed answer as its client reads it; `providerFailure` says what it means. */
export interface FailedAnswer {
  readonly status: number;
  readonly retryAfter: string | null;
  /** The token endpoint answered invalid_grant: the user revoked access, or the grant expired. */
  readonly grantRevoked?: boolean;
  /** The provider says it is rate-limiting in words of its own (429, and 503 with Retry-After, always count). */
  readonly rateLimited?: boolean;
  /** Set when the sync state is gone: what the provider calls it (sync token, delta link). */
  readonly expiredSyncState?: string;
  /** The provider's error code, for the message (only a short identifier is kept: see providerCode). */
  readonly code?: unknown;
}

/** One reading of a failed answer for every provider: the grant, the access token, a rate limit, the sync state, or anything else. */
export function providerFailure(
  provider: CalendarProviderName,
  operation: string,
  answer: FailedAnswer,
): ProviderError {
  const { status, retryAfter } = answer;
  if (answer.grantRevoked)
    return new ProviderGrantError(provider, `${operation}: the grant is invalid or revoked (invalid_grant)`, status);
  if (status === 401) return new ProviderAuthError(provider, `${operation}: access token rejected (401)`, status);
  if (status === 429 || answer.rateLimited || (status === 503 && retryAfter !== null)) {
    return new ProviderRateLimitError(
      provider,
      `${operation}: rate limited (${status})`,
      status,
      parseRetryAfter(retryAfter),
    );
  }
  if (answer.expiredSyncState)
    return new SyncStateExpiredError(
      provider,
      `${operation}: the ${answer.expiredSyncState} is no longer valid (${status})`,
      status,
    );
  const code = providerCode(answer.code);
  return new ProviderRequestError(provider, `${operation} failed (${status}${code ? ` ${code}` : ''})`, status);
}
