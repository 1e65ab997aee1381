// Safe webhook targets: private, loopback, link-local and metadata addresses refused, on the URL
// and on the address a name resolves to when the connection is made (DNS rebinding).

import type { lookup as dnsLookup, LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { isPrivateAddress, resolvedTargetProblem, safeLookup } from '../../src/webhooks/safe-target.js';
import { sendWebhook } from '../../src/webhooks/webhook-sender.js';
import { TEST_TARGET_ADDRESS, TEST_TARGETS } from '../support/webhook-targets.js';

/** A resolver that answers `addresses` for any name. */
const resolver = (...addresses: string[]) =>
  ((_host: string, _options: unknown, callback: (error: null, found: LookupAddress[]) => void) =>
    callback(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    )) as unknown as typeof dnsLookup;

describe('safe webhook targets', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.2.3.4', true],
    ['172.20.0.1', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['::1', true],
    ['fe80::1', true],
    ['fd00:ec2::254', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['93.184.215.14', false],
    ['2606:2800:21f:cb07:6820:80da:af6b:8b2c', false],
  ])('judges %s private: %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });

  it('refuses a name that resolves to a private address at registration', async () => {
    expect(await resolvedTargetProblem('https://hooks.example.com/', false, resolver('10.0.0.7'))).toBe(
      'must not point to a private, loopback, link-local or metadata address',
    );
    const { lookup, isPrivate } = TEST_TARGETS;
    expect(await resolvedTargetProblem('https://receiver.test/', false, lookup, isPrivate)).toBeUndefined();
  });

  it("gives tests names that pass the check and reach nothing: .test names resolve to TEST-NET-1 only, which the service's own check refuses", async () => {
    const { lookup, isPrivate } = TEST_TARGETS;
    expect(await resolvedTargetProblem('https://hooks.example.com/', false, lookup, isPrivate)).toBe(
      'host "hooks.example.com" does not resolve',
    );
    expect(await resolvedTargetProblem('https://receiver.test/', false, lookup)).toBe(
      'must not point to a private, loopback, link-local or metadata address',
    );
    expect(isPrivateAddress(TEST_TARGET_ADDRESS)).toBe(true);
  });

  it('refuses the connection when the name resolves to a private address at send time', async () => {
    const lookup = safeLookup(false, resolver(TEST_TARGET_ADDRESS, '169.254.169.254'), TEST_TARGETS.isPrivate);
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      lookup('rebound.example.com', {}, (found) => resolve(found)),
    );
    expect(error?.code).toBe('ENT_UNSAFE_TARGET');
    const allowed = await new Promise<string>((resolve) =>
      safeLookup(false, TEST_TARGETS.lookup, TEST_TARGETS.isPrivate)('receiver.test', {}, (_error, address) =>
        resolve(address as string),
      ),
    );
    expect(allowed).toBe(TEST_TARGET_ADDRESS);
  });

  it('sends nothing to a loopback URL unless private targets are allowed', async () => {
    const outcome = await sendWebhook({ url: 'https://127.0.0.1:9/', headers: {}, body: '{}', allowPrivate: false });
    expect(outcome).toEqual({
      status: null,
      error: 'unsafe target: url must not point to a private, loopback, link-local or metadata address',
      latencyMs: 0,
    });
  });
});
