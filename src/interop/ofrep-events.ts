// Wires OFREP event streams to the running service: the links' key, the streams' caps, and the
// provider's change events (writes here or, through the change feed, on another instance, a
// meter running out or refilling among them; policy reloads; the store coming back) as the
// trigger to check the answers streams hold.

import { ProviderEvents, type EventDetails } from '@openfeature/server-sdk';
import type { Config } from '../config.js';
import { TENANT_CONTEXT_KEY, type EntitleProvider } from '../entitlements/entitle-provider.js';
import type { TenantDirectory } from '../entitlements/tenant-directory.js';
import type { Logger } from '../logger.js';
import type { TokenRepository } from '../store/store.js';
import { credentialKey, EventStreams, type StreamCredential } from './event-streams.js';
import { StreamLinks } from './event-stream-links.js';
import type { OfrepEvents } from './ofrep-event-routes.js';
import { evaluateAll, refillAt, type OfrepEvaluator } from './ofrep-evaluation.js';

/** Seconds a backgrounded page keeps its stream (the OFREP web provider's default). */
const INACTIVITY_DELAY_SEC = 120;

export interface RunningOfrepEvents extends OfrepEvents {
  /** Ends every stream and stops listening. */
  close(): void;
}

/** Of these credentials, the ones whose tenant still exists and whose API token (if any) still authenticates. */
export async function stillValid(
  tenants: Pick<TenantDirectory, 'load'>,
  tokens: Pick<TokenRepository, 'usable'>,
  credentials: readonly StreamCredential[],
): Promise<ReadonlySet<string>> {
  const tokenIds = [...new Set(credentials.flatMap((c) => (c.tokenId === null ? [] : [c.tokenId])))];
  const usable = tokenIds.length === 0 ? new Set<string>() : await tokens.usable(tokenIds);
  // Read when not in memory (and so kept there while their streams are open: each check uses them).
  const tenantIds = [...new Set(credentials.map((c) => c.tenantId))];
  const states = await Promise.all(tenantIds.map((id) => tenants.load(id)));
  const existing = new Set(tenantIds.filter((_, index) => states[index] !== undefined));
  const valid = new Set<string>();
  for (const credential of credentials)
    if (existing.has(credential.tenantId) && (credential.tokenId === null || usable.has(credential.tokenId)))
      valid.add(credentialKey(credential));
  return valid;
}

/** What the streams use of the running service: no more. */
export interface OfrepEventsOptions {
  readonly policy: OfrepEvaluator['policy'];
  /** Decides every answer, and says when answers may have changed. */
  readonly provider: OfrepEvaluator['provider'] & Pick<EntitleProvider, 'events'>;
  /**
   * Where the overrides' expiry times are read (a stream's answer changes then), and whether a
   * stream's tenant still exists. The credential checks every `checkMs` use the tenants of open
   * streams, which keeps them in memory (the expiry times are read from memory).
   */
  readonly tenants: Pick<TenantDirectory, 'get' | 'load'>;
  /** Whether the API token behind a stream's link still authenticates. */
  readonly tokens: Pick<TokenRepository, 'usable'>;
  readonly clock: () => number;
  /** The key stream links are signed with. */
  readonly streamKey: Uint8Array;
  readonly config: Pick<Config, 'streams'>;
  readonly logger: Logger;
}

export function openOfrepEvents(options: OfrepEventsOptions): RunningOfrepEvents {
  const { policy, provider, tenants, tokens, clock, streamKey, config, logger } = options;
  const links = new StreamLinks(streamKey, clock);
  const etag = (fingerprint: string) => `"${fingerprint}-${links.window()}"`;
  const streams = new EventStreams({
    max: config.streams.max,
    perTenant: config.streams.perTenant,
    perUser: config.streams.perUser,
    heartbeatMs: config.streams.heartbeatMs,
    checkMs: config.streams.checkMs,
    stillValid: (credentials) => stillValid(tenants, tokens, credentials),
    clock,
    logger,
    etag,
    evaluate: async ({ tenantId, userId, role }) => {
      const answer = await evaluateAll(
        { policy, provider },
        { [TENANT_CONTEXT_KEY]: tenantId, targetingKey: userId },
        { role },
        logger,
      );
      return { fingerprint: answer.fingerprint, changesAt: refillAt(answer) };
    },
    nextExpiry: (tenantId) => {
      const now = clock();
      let soonest: number | undefined;
      for (const override of tenants.get(tenantId)?.overrides.values() ?? []) {
        const at = override.expiresAtMs;
        if (at !== null && at > now && (soonest === undefined || at < soonest)) soonest = at;
      }
      return soonest;
    },
  });
  // The provider names the tenants of a small change; anything else may touch every tenant.
  const onChange = (details?: EventDetails) => {
    const changed = details?.metadata?.tenants;
    void streams.changed(typeof changed === 'string' && changed !== '' ? changed.split(',') : 'all');
  };
  const onAll = () => void streams.changed('all');
  provider.events.addHandler(ProviderEvents.ConfigurationChanged, onChange);
  provider.events.addHandler(ProviderEvents.Stale, onAll);
  return {
    links,
    streams,
    stillValid: (credentials) => stillValid(tenants, tokens, credentials),
    etag,
    inactivityDelaySec: INACTIVITY_DELAY_SEC,
    publicUrl: config.streams.publicUrl,
    close() {
      provider.events.removeHandler(ProviderEvents.ConfigurationChanged, onChange);
      provider.events.removeHandler(ProviderEvents.Stale, onAll);
      streams.close();
    },
  };
}
