// Keys for what the server signs for itself: console session cookies and OFREP event-stream
// links. One secret (ENTITLE_SESSION_SECRET), one key derived per purpose, so a value made for
// one purpose is never accepted for the other.

import { hkdfSync, randomBytes } from 'node:crypto';

export interface ServerKeys {
  /** Encrypts and authenticates console session cookies (A256GCM). */
  readonly session: Uint8Array;
  /** Signs event-stream links (HS256). */
  readonly streams: Uint8Array;
  /** False when the secret is random to this process: other instances cannot read what it signs. */
  readonly shared: boolean;
}

export function serverKeys(secret: string | undefined): ServerKeys {
  const material = secret === undefined ? randomBytes(32) : Buffer.from(secret, 'utf8');
  const derive = (purpose: string) => new Uint8Array(hkdfSync('sha256', material, 'entitle', purpose, 32));
  return { session: derive('console-session'), streams: derive('ofrep-event-stream'), shared: secret !== undefined };
}
