// Provider failures as HTTP answers: 502 for a failed provider, 503 + Retry-After when it is
// rate-limiting, 409 when the user must connect again. Messages never carry tokens.

import { ProviderFailedError, ProviderRateLimitedError, ReconnectRequiredError, withDetails } from '../errors.js';
import { TokenDecryptionError } from '../secrets/token-crypto.js';
import type { CalendarProviderName } from './calendar-client.js';
import { ProviderError, ProviderGrantError, ProviderRateLimitError } from './provider-errors.js';

const NAMES: Record<CalendarProviderName, string> = { google: 'Google', microsoft: 'Microsoft' };

/** Maps a provider error to the error the client sees; other errors pass through unchanged. */
export function providerHttpError(error: unknown, provider: CalendarProviderName): unknown {
  const name = NAMES[provider];
  if (error instanceof ProviderRateLimitError) {
    const retryAfterSeconds = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
    return withDetails(
      new ProviderRateLimitedError(`${name} is rate-limiting requests; retry after ${retryAfterSeconds} s`),
      { provider, retryAfterSeconds },
    );
  }
  if (error instanceof ProviderGrantError) return withDetails(new ReconnectRequiredError(name), { provider });
  if (error instanceof ProviderError) {
    return withDetails(new ProviderFailedError(`${name} request failed: ${error.message}`), {
      provider,
      providerStatus: error.status,
    });
  }
  // A stored token that no longer decrypts (tampered, or its key was removed) cannot be used.
  if (error instanceof TokenDecryptionError) return withDetails(new ReconnectRequiredError(name), { provider });
  return error;
}
