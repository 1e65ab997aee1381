// Standard Webhooks signatures (standardwebhooks.com): `v1,<base64 HMAC-SHA256 of id.timestamp.body>`,
// made with the spec's own library; during a secret's rotation both secrets sign, space-separated.

import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A new signing secret in the spec's form: `whsec_` and 32 random bytes in base64. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
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
