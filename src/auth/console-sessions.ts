// Console sessions without a table: an admin token is exchanged for an encrypted, expiring
// cookie bound to that token (its id and the hash of its secret). Every request checks the
// token again through the token cache, so revoking or expiring the token ends its sessions at
// once, on every instance. Sign-out clears the cookie and remembers the session as ended on
// this instance until it would have expired.

import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { EncryptJWT, errors as joseErrors, jwtDecrypt } from 'jose';

export const SESSION_COOKIE = 'entitle_session';
/** The header a session's writes carry (synchronizer token: the page reads it from GET /console/session). */
export const CSRF_HEADER = 'x-csrf-token';

export interface ConsoleSession {
  readonly id: string;
  readonly tokenId: string;
  readonly secretHash: string;
  readonly csrf: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

const AUDIENCE = 'entitle:console';
const MAX_ENDED = 100_000;

export class ConsoleSessions {
  /** Signed-out sessions still within their lifetime: id → expiry. */
  #ended = new Map<string, number>();

  constructor(
    private readonly key: Uint8Array,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** A new session for a verified admin token, and the cookie value that carries it. */
  async create(tokenId: string, secretHash: string): Promise<{ session: ConsoleSession; cookie: string }> {
    const now = this.clock();
    const session: ConsoleSession = {
      id: randomUUID(),
      tokenId,
      secretHash,
      csrf: randomBytes(24).toString('base64url'),
      expiresAt: now + this.ttlMs,
    };
    const cookie = await new EncryptJWT({ tid: tokenId, th: secretHash, csrf: session.csrf })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setJti(session.id)
      .setAudience(AUDIENCE)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(session.expiresAt / 1000))
      .encrypt(this.key);
    return { session, cookie };
  }

  /** The session a cookie carries; undefined when it is forged, expired or signed out. */
  async open(cookie: string): Promise<ConsoleSession | undefined> {
    try {
      const { payload } = await jwtDecrypt(cookie, this.key, {
        audience: AUDIENCE,
        currentDate: new Date(this.clock()),
      });
      const { jti, tid, th, csrf, exp } = payload;
      if (
        typeof jti !== 'string' ||
        typeof tid !== 'string' ||
        typeof th !== 'string' ||
        typeof csrf !== 'string' ||
        typeof exp !== 'number'
      )
        return undefined;
      if (this.#ended.has(jti)) return undefined;
      return { id: jti, tokenId: tid, secretHash: th, csrf, expiresAt: exp * 1000 };
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return undefined;
      throw error;
    }
  }

  /** Sign-out: this session is refused from now on (on this instance; other instances until it expires). */
  end(session: ConsoleSession): void {
    const now = this.clock();
    if (this.#ended.size >= MAX_ENDED) for (const [id, at] of this.#ended) if (at <= now) this.#ended.delete(id);
    if (this.#ended.size >= MAX_ENDED) this.#ended.delete(this.#ended.keys().next().value as string);
    this.#ended.set(session.id, session.expiresAt);
  }
}

/** Whether a write's CSRF header is the session's, in constant time. */
export function csrfMatches(session: ConsoleSession, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const given = Buffer.from(header);
  const expected = Buffer.from(session.csrf);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
