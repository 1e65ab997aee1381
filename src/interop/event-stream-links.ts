// The credential in an OFREP event-stream URL. Browsers open the stream with EventSource, which
// sends no headers, so the URL itself must authorise it: a short-lived HS256 token scoped to one
// tenant and caller, never the bearer token. Tokens are cut per time window and are the same
// for the same caller and answer within a window, so a bulk answer (and its ETag) stays stable
// between changes; a token is accepted for two windows.

import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Role } from '../store/store.js';

/**
 * Who may open the stream, and the answer (fingerprint) they were given with its link: the tenant
 * the credential may read and the user it vouches for (its own, or for a client token the
 * targeting key it evaluated), the credential itself (`principal`, for the per-user cap) and the
 * API token behind it, if one is (a revoked token's links open nothing and its streams close).
 */
export interface StreamGrant {
  readonly tenantId: string;
  readonly userId: string;
  readonly role: Role;
  readonly fingerprint: string;
  readonly principal: string;
  readonly tokenId: string | null;
}

const AUDIENCE = 'entitle:ofrep-events';
export const STREAM_WINDOW_MS = 5 * 60_000;

export class StreamLinkError extends Error {}

/** Tokens kept per window at most; past it the window's tokens start over. */
const MAX_ISSUED = 10_000;

export class StreamLinks {
  /** This window's tokens by grant. */
  readonly #issued = new Map<string, Promise<string>>();
  #issuedWindow = -1;

  constructor(
    private readonly key: Uint8Array,
    private readonly clock: () => number = Date.now,
    private readonly windowMs: number = STREAM_WINDOW_MS,
  ) {}

  /** The current window: part of the bulk ETag, so an answer cached with an expired link is not "still current". */
  window(): number {
    return Math.floor(this.clock() / this.windowMs);
  }

  /**
   * The token for `grant` in the current window. Signing (HMAC through WebCrypto) was a fifth of
   * a bulk evaluation's CPU; a token is the same for the same grant all window long, so each is
   * signed once per window and kept until the window moves on.
   */
  issue(grant: StreamGrant): Promise<string> {
    const window = this.window();
    if (window !== this.#issuedWindow || this.#issued.size >= MAX_ISSUED) {
      this.#issued.clear();
      this.#issuedWindow = window;
    }
    const key = [grant.tenantId, grant.userId, grant.role, grant.fingerprint, grant.principal, grant.tokenId].join(
      '\u0000',
    );
    let token = this.#issued.get(key);
    if (token === undefined) {
      token = this.#sign(grant, window);
      this.#issued.set(key, token);
      token.catch(() => this.#issued.delete(key));
    }
    return token;
  }

  #sign(grant: StreamGrant, window: number): Promise<string> {
    const start = window * this.windowMs;
    return new SignJWT({
      tid: grant.tenantId,
      uid: grant.userId,
      role: grant.role,
      fp: grant.fingerprint,
      sub: grant.principal,
      tok: grant.tokenId,
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setAudience(AUDIENCE)
      .setIssuedAt(Math.floor(start / 1000))
      .setExpirationTime(Math.floor((start + 2 * this.windowMs) / 1000))
      .sign(this.key);
  }

  /** Throws StreamLinkError for a token that is malformed, forged, expired or for another purpose. */
  async verify(token: string): Promise<StreamGrant> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        audience: AUDIENCE,
        currentDate: new Date(this.clock()),
      });
      const { tid, uid, role, fp, sub, tok } = payload;
      if (
        typeof tid !== 'string' ||
        typeof uid !== 'string' ||
        typeof fp !== 'string' ||
        typeof sub !== 'string' ||
        (tok !== null && typeof tok !== 'string') ||
        (role !== 'member' && role !== 'admin' && role !== 'client')
      )
        throw new StreamLinkError('malformed');
      return { tenantId: tid, userId: uid, role, fingerprint: fp, principal: sub, tokenId: tok };
    } catch (error) {
      if (error instanceof joseErrors.JOSEError || error instanceof StreamLinkError)
        throw new StreamLinkError('invalid stream link');
      throw error;
    }
  }
}
