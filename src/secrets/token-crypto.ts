// Encrypts OAuth tokens at rest: AES-256-GCM, a random IV per value, the key id stored with
// each ciphertext (so keys can rotate), and a context string bound in as associated data (so a
// ciphertext copied to another row or field does not decrypt).

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A ciphertext that does not decrypt: tampered, truncated, wrong context, or unknown key. */
export class TokenDecryptionError extends Error {
  readonly code = 'ENT_ERR_TOKEN_DECRYPTION';
  constructor(message: string) {
    super(message);
    this.name = 'TokenDecryptionError';
  }
}

/** A set of keys: several accepted for decryption, one used for encryption. */
export interface KeyRing {
  readonly keys: ReadonlyMap<string, Buffer>;
  readonly activeKeyId: string;
}

/** Several keys accepted for decryption, one used for encryption. */
export class TokenCipher {
  #keys: ReadonlyMap<string, Buffer>;
  #activeKeyId: string;

  /**
   * @param reload where to look again when a ciphertext names a key this cipher does not have
   *   (another process rotated keys in a shared key file); called at most once per such miss.
   */
  constructor(
    keys: ReadonlyMap<string, Buffer>,
    activeKeyId: string,
    private readonly reload?: () => KeyRing,
  ) {
    checkKeys({ keys, activeKeyId });
    this.#keys = keys;
    this.#activeKeyId = activeKeyId;
  }

  get activeKeyId(): string {
    return this.#activeKeyId;
  }

  /** The key for an id, looking again at the key source once when it is unknown. */
  #key(keyId: string): Buffer | undefined {
    const known = this.#keys.get(keyId);
    if (known || !this.reload) return known;
    const ring = this.reload();
    checkKeys(ring);
    this.#keys = ring.keys;
    this.#activeKeyId = ring.activeKeyId;
    return ring.keys.get(keyId);
  }

  /** `v1.<key id>.<iv>.<ciphertext>.<tag>`, base64url parts. */
  encrypt(plaintext: string, context: string): string {
    const key = this.#keys.get(this.#activeKeyId) as Buffer;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      VERSION,
      this.#activeKeyId,
      iv.toString('base64url'),
      ciphertext.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.');
  }

  decrypt(envelope: string, context: string): string {
    const parts = envelope.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new TokenDecryptionError('not an encrypted token');
    const [, keyId, ivText, ciphertextText, tagText] = parts as [string, string, string, string, string];
    const key = this.#key(keyId);
    if (!key) throw new TokenDecryptionError(`encrypted with key "${keyId}", which is not configured`);
    const iv = Buffer.from(ivText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new TokenDecryptionError('malformed encrypted token');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(ciphertextText, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      // GCM authentication failed: the ciphertext, its key id or its context was changed.
      throw new TokenDecryptionError('encrypted token failed authentication (tampered, or bound to another record)');
    }
  }

  /** The key id a ciphertext names. */
  static keyIdOf(envelope: string): string | undefined {
    const parts = envelope.split('.');
    return parts.length === 5 && parts[0] === VERSION ? parts[1] : undefined;
  }

  /** Re-encrypts under the active key when the ciphertext uses another; returns undefined when already current. */
  reencrypt(envelope: string, context: string): string | undefined {
    if (TokenCipher.keyIdOf(envelope) === this.#activeKeyId) return undefined;
    return this.encrypt(this.decrypt(envelope, context), context);
  }
}

function checkKeys({ keys, activeKeyId }: KeyRing): void {
  if (!keys.has(activeKeyId)) throw new Error(`the active key "${activeKeyId}" is not among the keys`);
  for (const [id, key] of keys) if (key.length !== 32) throw new Error(`key "${id}" must be 32 bytes`);
}
