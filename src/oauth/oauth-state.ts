// OAuth `state` and PKCE: a state is random, stored only as a hash, single-use, short-lived,
// and bound to the tenant, user, provider and purpose that started the flow; the PKCE verifier
// (S256) is kept encrypted beside it.

import { createHash, randomBytes } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import type { CalendarProviderName } from '../calendar/calendar-client.js';
import { OAuthStateError } from '../errors.js';
import type { MaintenanceTask } from '../maintenance/maintenance.js';
import type { EntitleStore, OAuthState, WriteContext } from '../store/store.js';
import { secretContext } from '../secrets/secret-context.js';
import type { TokenCipher } from '../secrets/token-crypto.js';

/** How long a user has to finish consenting at the provider. */
export const STATE_TTL_MS = 10 * 60_000;

/** The maintenance task's name: initiations nudge it. */
export const PURGE_OAUTH_STATES = 'oauth-states';

/** Removes states whose time is up: an abandoned consent leaves nothing behind for long. */
export function purgeExpiredStatesTask(store: Pick<EntitleStore, 'oauthStates'>): MaintenanceTask {
  return {
    name: PURGE_OAUTH_STATES,
    everyMs: STATE_TTL_MS / 2,
    run: (now) => store.oauthStates.purgeExpired(new Date(now).toISOString()),
  };
}

export interface OAuthStateDeps {
  readonly store: Pick<EntitleStore, 'oauthStates'>;
  readonly cipher: TokenCipher;
  readonly clock: () => number;
}

export function hashState(state: string): string {
  return createHash('sha256').update(state).digest('hex');
}

/** A PKCE pair: the verifier stays here, the S256 challenge goes to the provider. */
export function newPkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface StartedAuthorization {
  readonly state: string;
  readonly codeChallenge: string;
  readonly expiresAt: string;
}

export async function startAuthorization(
  deps: OAuthStateDeps,
  input: {
    readonly principal: Principal;
    readonly provider: CalendarProviderName;
    readonly purpose: string;
    readonly redirectUri: string;
  },
  context: WriteContext,
): Promise<StartedAuthorization> {
  const state = randomBytes(32).toString('base64url');
  const stateHash = hashState(state);
  const pkce = newPkce();
  const now = deps.clock();
  const expiresAt = new Date(now + STATE_TTL_MS).toISOString();
  await deps.store.oauthStates.create(
    {
      stateHash,
      tenantId: input.principal.tenantId,
      userId: input.principal.userId,
      provider: input.provider,
      purpose: input.purpose,
      redirectUri: input.redirectUri,
      codeVerifier: deps.cipher.encrypt(pkce.verifier, secretContext('oauth_state.code_verifier', stateHash)),
      createdAt: new Date(now).toISOString(),
      expiresAt,
    },
    context,
  );
  return { state, codeChallenge: pkce.challenge, expiresAt };
}

/**
 * Consumes a state returned by the callback and checks everything it is bound to. The state is
 * gone afterwards whatever the outcome: a replay always fails.
 */
export async function finishAuthorization(
  deps: OAuthStateDeps,
  input: {
    readonly state: string;
    readonly provider: CalendarProviderName;
    readonly principal: Principal;
    readonly purpose?: string;
  },
): Promise<{ record: OAuthState; codeVerifier: string }> {
  const record = await deps.store.oauthStates.consume(hashState(input.state));
  if (!record) throw new OAuthStateError('state: unknown or already used; start the connection again');
  if (Date.parse(record.expiresAt) <= deps.clock())
    throw new OAuthStateError('state: expired; start the connection again');
  if (record.provider !== input.provider)
    throw new OAuthStateError(`state: was issued for ${record.provider}, not ${input.provider}`);
  if (record.tenantId !== input.principal.tenantId || record.userId !== input.principal.userId) {
    throw new OAuthStateError('state: was issued to another user');
  }
  if (input.purpose !== undefined && input.purpose !== record.purpose)
    throw new OAuthStateError(`state: was issued for purpose "${record.purpose}", not "${input.purpose}"`);
  return {
    record,
    codeVerifier: deps.cipher.decrypt(
      record.codeVerifier,
      secretContext('oauth_state.code_verifier', record.stateHash),
    ),
  };
}
