// The context each encrypted value is bound to: a ciphertext moved to another record or field
// fails to decrypt.

import type { StoredSecret } from '../store/store.js';

export function secretContext(kind: StoredSecret['kind'], recordId: string): string {
  return `${kind}:${recordId}`;
}
