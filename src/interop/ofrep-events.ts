// Wires OFREP event streams to the running service: the links' key, the streams' caps, and the
// provider's change events (writes here or, through the change feed, on another instance, a
// meter running out or refilling among them; policy reloads; the store coming back) as the
// trigger to check the answers streams hold.

import { ProviderEvents, type EventDetails } from '@openfeature/server-sdk';
import type { Config } from '../config.js';
import { TENANT_CONTEXT_KEY } from '../entitlements/entitle-provider.js';
import type { Logger } from '../logger.js';
import type { EntitleServices } from '../services.js';
import { credentialKey, EventStreams, type StreamCredential } from './event-streams.js';
import { StreamLinks } from './event-stream-links.js';
import type { OfrepEvents } from './ofrep-event-routes.js';
import { evaluateAll, refillAt } from './ofrep-evaluation.js';

/** Seconds a backgrounded page keeps its stream (the OFREP web provider's default). */
const INACTIVITY_DELAY_SEC = 120;

export interface RunningOfrepEvents extends OfrepEvents {
  /** Ends every stream and stops listening. */
  close(): void;
}

/** Of these credentials, the ones whose tenant still exists and whose API token (if any) still authenticates. */
export async function stillValid(
  services: Pick<EntitleServices, 'tenants' | 'store'>,
  credentials: readonly StreamCredential[],
): Promise<ReadonlySet<string>> {
  const tokenIds = [...new Set(credentials.flatMap((c) => (c.tokenId === null ? [] : [c.tokenId])))];
  const usable = tokenIds.length === 0 ? new Set<string>() : await services.store.tokens.usable(tokenIds);
  const valid = new Set<string>();
  for (const credential of credentials)
    if (
      services.tenants.get(credential.tenantId) !== undefined &&
      (credential.tokenId === null || usable.has(credential.tokenId))
    )
      valid.add(credentialKey(credential));
  return valid;
}

export function openOfrepEvents(
  services: EntitleServices,
  streamKey: Uint8Array,
  config: Pick<Config, 'streams'>,
  logger: Logger,
): RunningOfrepEvents {
  const { clock } = services;
  const links = new StreamLinks(streamKey, clock);
  const etag = (fingerprint: string) => `"${fingerprint}-${links.window()}"`;
  const streams = new EventStreams({
    max: config.streams.max,
    perTenant: config.streams.perTenant,
    perUser: config.streams.perUser,
    heartbeatMs: config.streams.heartbeatMs,
    checkMs: config.streams.checkMs,
    stillValid: (credentials) => stillValid(services, credentials),
    clock,
    logger,
    etag,
    evaluate: async ({ tenantId, userId, role }) => {
      const answer = await evaluateAll(
        services,
        { [TENANT_CONTEXT_KEY]: tenantId, targetingKey: userId },
        { role },
        logger,
      );
      return { fingerprint: answer.fingerprint, changesAt: refillAt(answer) };
    },
    nextExpiry: (tenantId) => {
      const now = clock();
      let soonest: number | undefined;
      for (const override of services.tenants.get(tenantId)?.overrides.values() ?? []) {
        const at = override.expiresAtMs;
        if (at !== null && at > now && (soonest === undefined || at < soonest)) soonest = at;
      }
      return soonest;
    },
  });
  // The provider names the tenants of a small change; anything else may touch every tenant.
  const onChange = (details?: EventDetails) => {
    const tenants = details?.metadata?.tenants;
    void streams.changed(typeof tenants === 'string' && tenants !== '' ? tenants.split(',') : 'all');
  };
  const onAll = () => void streams.changed('all');
  services.provider.events.addHandler(ProviderEvents.ConfigurationChanged, onChange);
  services.provider.events.addHandler(ProviderEvents.Stale, onAll);
  return {
    links,
    streams,
    stillValid: (credentials) => stillValid(services, credentials),
    etag,
    inactivityDelaySec: INACTIVITY_DELAY_SEC,
    publicUrl: config.streams.publicUrl,
    close() {
      services.provider.events.removeHandler(ProviderEvents.ConfigurationChanged, onChange);
      services.provider.events.removeHandler(ProviderEvents.Stale, onAll);
      streams.close();
    },
  };
}
