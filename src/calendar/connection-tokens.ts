// A connection's access token, ready to use: decrypted, refreshed when it has expired or was
// rejected, and re-encrypted when it changes. A grant the provider no longer honours marks the
// connection invalid.

import { ConnectionNotFoundError, ReconnectRequiredError } from '../errors.js';
import { secretContext } from '../secrets/secret-context.js';
import type { TokenCipher } from '../secrets/token-crypto.js';
import type { Connection, ConnectionTokens, EntitleStore, WriteContext } from '../store/store.js';
import type { CalendarClient, OAuthTokenSet } from './calendar-client.js';
import { ProviderAuthError, ProviderGrantError } from './provider-errors.js';

/** Refresh this long before the provider's expiry, so a token does not expire mid-request. */
const EXPIRY_MARGIN_MS = 60_000;

export interface ConnectionTokenDeps {
  readonly store: Pick<EntitleStore, 'connections'>;
  readonly cipher: TokenCipher;
  readonly clock: () => number;
}

/** Encrypts a token set for a connection (each value bound to the connection and field). */
export function sealTokens(cipher: TokenCipher, connectionId: string, tokens: OAuthTokenSet): ConnectionTokens {
  return {
    accessToken: cipher.encrypt(tokens.accessToken, secretContext('connection.access_token', connectionId)),
    refreshToken:
      tokens.refreshToken === null
        ? null
        : cipher.encrypt(tokens.refreshToken, secretContext('connection.refresh_token', connectionId)),
    expiresAt: tokens.expiresAt === null ? null : new Date(tokens.expiresAt).toISOString(),
  };
}

/** Runs `call` with a valid access token; refreshes first when expired, and once more if the provider says 401. */
export async function withAccessToken<T>(
  deps: ConnectionTokenDeps,
  client: CalendarClient,
  connection: Connection,
  context: WriteContext,
  call: (accessToken: string) => Promise<T>,
): Promise<T> {
  const stored = await deps.store.connections.tokens(connection.tenantId, connection.id);
  if (!stored || connection.status !== 'valid') throw new ConnectionNotFoundError();
  const expired = stored.expiresAt !== null && Date.parse(stored.expiresAt) - EXPIRY_MARGIN_MS <= deps.clock();
  let accessToken = expired
    ? await refresh(deps, client, connection, stored, context)
    : decrypt(deps, connection.id, 'connection.access_token', stored.accessToken);
  try {
    return await call(accessToken);
  } catch (error) {
    if (!(error instanceof ProviderAuthError) || stored.refreshToken === null) throw error;
    accessToken = await refresh(deps, client, connection, stored, context);
    return call(accessToken);
  }
}

async function refresh(
  deps: ConnectionTokenDeps,
  client: CalendarClient,
  connection: Connection,
  stored: ConnectionTokens,
  context: WriteContext,
): Promise<string> {
  if (stored.refreshToken === null) throw new ReconnectRequiredError(providerName(connection));
  const refreshToken = decrypt(deps, connection.id, 'connection.refresh_token', stored.refreshToken);
  let fresh: OAuthTokenSet;
  try {
    fresh = await client.refreshTokens(refreshToken);
  } catch (error) {
    if (error instanceof ProviderGrantError) {
      await deps.store.connections.disconnect(connection.tenantId, connection.id, {
        ...context,
        reason: 'the provider revoked the grant',
      });
      throw new ReconnectRequiredError(providerName(connection));
    }
    throw error;
  }
  await deps.store.connections.updateTokens(
    connection.tenantId,
    connection.id,
    sealTokens(deps.cipher, connection.id, fresh),
    context,
  );
  return fresh.accessToken;
}

function decrypt(
  deps: ConnectionTokenDeps,
  connectionId: string,
  kind: 'connection.access_token' | 'connection.refresh_token',
  ciphertext: string,
): string {
  return deps.cipher.decrypt(ciphertext, secretContext(kind, connectionId));
}

/** "Google" / "Microsoft", for messages. */
export function providerName(connection: Pick<Connection, 'provider'>): string {
  return connection.provider === 'google' ? 'Google' : 'Microsoft';
}
