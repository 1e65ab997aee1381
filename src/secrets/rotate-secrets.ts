// Key rotation: every stored secret re-encrypted under the active key, in one transaction.

import type { EntitleStore, StoredSecret, WriteContext } from '../store/store.js';
import { secretContext } from './secret-context.js';
import type { TokenCipher } from './token-crypto.js';

export function rotateSecrets(store: Pick<EntitleStore, 'secrets'>, cipher: TokenCipher, context: WriteContext): Promise<number> {
  return store.secrets.rotate((secret: StoredSecret) => cipher.reencrypt(secret.ciphertext, secretContext(secret.kind, secret.recordId)), context);
}
