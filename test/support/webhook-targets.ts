// Webhook targets for tests: names under `.test` (reserved, RFC 6761) resolve to an address of
// TEST-NET-1 (192.0.2.0/24, RFC 5737: documentation only, never routed on the internet), and
// no other name resolves. That range counts as public here only, so a registration passes the
// safe-target check while nothing a test registers could ever reach the internet.

import type { LookupAddress } from 'node:dns';
import { isPrivateAddress, type WebhookTargets } from '../../src/webhooks/safe-target.js';

/** Where every `.test` name resolves. */
export const TEST_TARGET_ADDRESS = '192.0.2.10';

/** A registration URL that passes the safe-target check and reaches nothing. */
export const RECEIVER_URL = 'https://receiver.test/hooks';

type Callback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function lookup(hostname: string, options: unknown, callback?: unknown): void {
  const done = (typeof options === 'function' ? options : callback) as Callback;
  const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
  if (!hostname.toLowerCase().replace(/\.$/, '').endsWith('.test')) {
    const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
    error.code = 'ENOTFOUND';
    return done(error, '');
  }
  if (all) return done(null, [{ address: TEST_TARGET_ADDRESS, family: 4 }]);
  return done(null, TEST_TARGET_ADDRESS, 4);
}

export const TEST_TARGETS: WebhookTargets = {
  lookup: lookup as WebhookTargets['lookup'],
  isPrivate: (address) => !address.startsWith('192.0.2.') && isPrivateAddress(address),
};
