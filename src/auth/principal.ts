// Who a request is: always from a verified credential, never from a header or body the client sets.

import { AuthRequiredError } from '../errors.js';
import type { Role } from '../store/store.js';
import type { ConsoleSession } from './console-sessions.js';

export interface Principal {
  readonly tenantId: string;
  readonly userId: string;
  readonly role: Role;
  /** How the request authenticated: an API token (with its id), a console session bound to one, or a JWT (with its issuer and subject). */
  readonly via:
    | { readonly kind: 'token'; readonly tokenId: string }
    | { readonly kind: 'session'; readonly tokenId: string; readonly session: ConsoleSession }
    | { readonly kind: 'jwt'; readonly issuer: string; readonly subject: string };
}

/**
 * Who a request counts against in rate limits: the token (a console session counts as the token
 * it is bound to), or the JWT's issuer and subject. Taken from the verified credential, so no
 * spelling of the Authorization header makes a new caller.
 */
export function principalKey(principal: Principal): string {
  return principal.via.kind === 'jwt'
    ? `jwt:${JSON.stringify([principal.via.issuer, principal.via.subject])}`
    : `token:${principal.via.tokenId}`;
}

/** The audit log's name for a principal. */
export function actorOf(principal: Principal): string {
  return `user:${principal.userId}@${principal.tenantId}`;
}

/**
 * The caller of a route declared with `config: { auth }`: the auth hook has admitted only
 * authenticated requests, so this narrows without a cast (and answers 401 if a route forgot `auth`).
 */
export function principalOf(request: { readonly principal: Principal | null }): Principal {
  if (request.principal === null) throw new AuthRequiredError();
  return request.principal;
}
