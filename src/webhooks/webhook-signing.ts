// Standard Webhooks signatures (standardwebhooks.com): `v1,<base64 HMAC-SHA256 of id.timestamp.body>`,
// made with the spec's own library; during a secret's rotation both secrets sign, space-separated.

import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { secretContext } from '../secrets/secret-context.js';
import type { TokenCipher } from '../secrets/token-crypto.js';

/** A new signing secret in the spec's form: `whsec_` and 32 random bytes in base64. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * A signing secret as the store keeps it: encrypted with the token cipher, bound to its endpoint
 * (the current and the rotated-out secret alike, since a rotation moves one column to the other).
 */
export function sealSigningSecret(cipher: TokenCipher, endpointId: string, secret: string): string {
  return cipher.encrypt(secret, secretContext('webhook_endpoint.secret', endpointId));
}

/** The signing secret of a sealed one; throws TokenDecryptionError when it does not decrypt. */
export function openSigningSecret(cipher: TokenCipher, endpointId: string, sealed: string): string {
  return cipher.decrypt(sealed, secretContext('webhook_endpoint.secret', endpointId));
}

/** The three headers of one attempt. `secrets`: the current one first, then any still in overlap. */
export function signedHeaders(
  secrets: readonly string[],
  id: string,
  timestampMs: number,
  body: string,
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  const at = new Date(Math.floor(timestampMs / 1000) * 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(timestampMs / 1000)),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(' '),
  };
}
