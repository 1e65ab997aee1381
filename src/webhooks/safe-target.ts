// Where a webhook may be sent: https only, to public addresses. Checked when an endpoint is
// registered and again on every connection (the address actually dialled), so a name that
// resolves elsewhere later (DNS rebinding) does not reach a private network.

import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** Private, loopback, link-local (cloud metadata), shared, documentation, multicast and reserved ranges. */
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  BLOCKED.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  BLOCKED.addSubnet(network, prefix, 'ipv6');

/** Whether an IP address (v4 or v6) is not on the public internet. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family !== 6) return true;
  const lower = address.toLowerCase();
  // An IPv4 address inside IPv6 (mapped ::ffff:a.b.c.d, or NAT64 64:ff9b::a.b.c.d) is judged as IPv4.
  const embedded = /^(?:::ffff:|64:ff9b::)(?:0:)?([\d.]+)$/.exec(lower)?.[1];
  if (embedded && isIP(embedded) === 4) return BLOCKED.check(embedded, 'ipv4');
  const hex = /^(?:::ffff:|64:ff9b::)([\da-f]{1,4}):([\da-f]{1,4})$/.exec(lower);
  if (hex) {
    const value = (parseInt(hex[1] as string, 16) << 16) | parseInt(hex[2] as string, 16);
    return BLOCKED.check([24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.'), 'ipv4');
  }
  return BLOCKED.check(address, 'ipv6');
}

/** Host names that are private by definition, whatever a resolver says. */
function privateName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return (
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    name.endsWith('.internal') ||
    name.endsWith('.local') ||
    name === 'metadata'
  );
}

/** Why a URL may not be a webhook target (the words follow "url: "), or undefined when it may. */
export function targetProblem(url: string, allowPrivate: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute https URL';
  }
  if (parsed.protocol !== 'https:' && !(allowPrivate && parsed.protocol === 'http:'))
    return allowPrivate ? 'must be an http(s) URL' : 'must be an https URL';
  if (parsed.username || parsed.password) return 'must not carry credentials';
  if (parsed.hash) return 'must not have a fragment';
  if (allowPrivate) return undefined;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0 ? isPrivateAddress(host) : privateName(host))
    return 'must not point to a private, loopback, link-local or metadata address';
  return undefined;
}

type Lookup = typeof dnsLookup;

/**
 * How target names resolve and which addresses count as private: the system's DNS and the
 * ranges above, unless a test gives its own (names that resolve to documentation addresses, so
 * a check can pass and nothing can reach the internet).
 */
export interface WebhookTargets {
  readonly lookup: Lookup;
  readonly isPrivate: (address: string) => boolean;
}

export const SYSTEM_TARGETS: WebhookTargets = { lookup: dnsLookup, isPrivate: isPrivateAddress };

/** Resolves a URL's host and says why it may not be a target, as {@link targetProblem} does for its words. */
export async function resolvedTargetProblem(
  url: string,
  allowPrivate: boolean,
  lookup: Lookup = dnsLookup,
  isPrivate: (address: string) => boolean = isPrivateAddress,
): Promise<string | undefined> {
  const problem = targetProblem(url, allowPrivate);
  if (problem || allowPrivate) return problem;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) return undefined;
  const addresses = await new Promise<LookupAddress[] | undefined>((resolve) =>
    lookup(host, { all: true }, (error, found) => resolve(error ? undefined : found)),
  );
  if (!addresses || addresses.length === 0) return `host "${host}" does not resolve`;
  if (addresses.some((entry) => isPrivate(entry.address)))
    return 'must not point to a private, loopback, link-local or metadata address';
  return undefined;
}

/**
 * A `lookup` for http(s).request that refuses private addresses: the check applies to the
 * address the connection is made to, at send time.
 */
export function safeLookup(
  allowPrivate: boolean,
  lookup: Lookup = dnsLookup,
  isPrivate: (address: string) => boolean = isPrivateAddress,
): Lookup {
  if (allowPrivate) return lookup;
  const safe = (hostname: string, options: unknown, callback: unknown): void => {
    const done = (typeof options === 'function' ? options : callback) as (
      error: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void;
    const opts = (typeof options === 'object' && options !== null ? options : {}) as { all?: boolean };
    lookup(hostname, { ...opts, all: true }, (error, addresses) => {
      if (error) return done(error, '');
      const blocked = addresses.find((entry) => isPrivate(entry.address));
      if (blocked || addresses.length === 0) {
        const refusal: NodeJS.ErrnoException = new Error(
          `${hostname} resolves to a private, loopback, link-local or metadata address`,
        );
        refusal.code = 'ENT_UNSAFE_TARGET';
        return done(refusal, '');
      }
      if (opts.all) return done(null, addresses);
      const first = addresses[0] as LookupAddress;
      return done(null, first.address, first.family);
    });
  };
  return safe as unknown as Lookup;
}
