// Key rotation: every stored secret re-encrypted under the active key, in one transaction.
// A secret that does not decrypt stops it, with an error naming the key that failed.

import type { EntitleStore, StoredSecret, WriteContext } from '../store/store.js';
import { secretContext } from './secret-context.js';
import { TokenCipher, TokenDecryptionError } from './token-crypto.js';

/** A stored secret that the configured keys do not decrypt: names the secret and its key. */
export class KeyRotationError extends Error {
  readonly code = 'ENT_ERR_KEY_ROTATION';
  constructor(secret: StoredSecret, cause: TokenDecryptionError) {
    const keyId = TokenCipher.keyIdOf(secret.ciphertext);
    super(
      `cannot decrypt ${secret.kind} of ${secret.recordId} with key "${keyId ?? 'unknown'}": ${cause.message}. ` +
        `Check that ENTITLE_ENCRYPTION_KEYS holds key "${keyId ?? 'unknown'}" as it was when the secret was written; nothing was re-encrypted.`,
    );
    this.name = 'KeyRotationError';
  }
}

export async function rotateSecrets(
  store: Pick<EntitleStore, 'secrets'>,
  cipher: TokenCipher,
  context: WriteContext,
): Promise<number> {
  // The store reports any failure inside its transaction as "unavailable": keep ours to say which key.
  let failure: KeyRotationError | undefined;
  try {
    return await store.secrets.rotate((secret: StoredSecret) => {
      try {
        return cipher.reencrypt(secret.ciphertext, secretContext(secret.kind, secret.recordId));
      } catch (error) {
        if (error instanceof TokenDecryptionError) failure = new KeyRotationError(secret, error);
        throw error;
      }
    }, context);
  } catch (error) {
    throw failure ?? error;
  }
}
