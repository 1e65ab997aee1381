// Release toggles from an Unleash server, for features with `rollout.unleash`. unleash-client
// keeps the toggles in memory and refreshes them in the background: a decision reads the local
// cache and never waits on the network. Until the first fetch, and for unknown toggles, a
// toggle is off (the closed side). unleash-client is loaded only when Unleash is configured.

import type { Unleash, UnleashEvents } from 'unleash-client';
import type { UnleashConfig as EntitleUnleashConfig } from '../config.js';
import type { ReleaseSwitch } from '../entitlements/release-switch.js';
import type { Logger } from '../logger.js';
import type { PolicySnapshot } from '../policy/types.js';

export interface UnleashReleaseOptions {
  readonly logger: Logger;
  /** How often to refresh toggles (ms). */
  readonly refreshInterval?: number;
  /** How long start-up waits for the first fetch before going on with every toggle off. */
  readonly startTimeoutMs?: number;
}

export class UnleashReleaseSwitch implements ReleaseSwitch {
  private constructor(
    private readonly client: Unleash,
    private readonly events: typeof UnleashEvents,
  ) {}

  static async start(config: EntitleUnleashConfig, options: UnleashReleaseOptions): Promise<UnleashReleaseSwitch> {
    const { InMemStorageProvider, Unleash, UnleashEvents } = await import('unleash-client');
    const client = new Unleash({
      url: config.url,
      appName: config.appName,
      customHeaders: { Authorization: config.apiToken },
      refreshInterval: options.refreshInterval ?? 15_000,
      disableMetrics: true,
      storageProvider: new InMemStorageProvider(),
      skipInstanceCountWarning: true,
    });
    // unleash-client reports fetch failures as 'error' events: without a listener Node would throw.
    client.on(UnleashEvents.Error, (error: Error) =>
      options.logger.warn({ err: { message: error.message } }, 'unleash: could not refresh release toggles'),
    );
    client.on(UnleashEvents.Warn, (message: unknown) =>
      options.logger.warn({ message: String(message) }, 'unleash: warning'),
    );
    const synchronized = new Promise<boolean>((resolve) => {
      client.once(UnleashEvents.Synchronized, () => resolve(true));
      setTimeout(() => resolve(false), options.startTimeoutMs ?? 5_000).unref();
    });
    if (!(await synchronized))
      options.logger.warn(
        { url: config.url },
        'unleash: no toggles fetched yet; features with rollout.unleash stay off until they are',
      );
    return new UnleashReleaseSwitch(client, UnleashEvents);
  }

  isEnabled(toggle: string, context: { tenantId: string; userId?: string }): boolean {
    return this.client.isEnabled(
      toggle,
      { ...(context.userId ? { userId: context.userId } : {}), properties: { tenantId: context.tenantId } },
      false,
    );
  }

  onChange(listener: () => void): () => void {
    this.client.on(this.events.Changed, listener);
    return () => this.client.off(this.events.Changed, listener);
  }

  close(): void {
    this.client.destroy();
  }
}

/** Without Unleash configured, `rollout.unleash` references are reported and ignored. */
export function reportIgnoredRollouts(policy: PolicySnapshot, logger: Logger): void {
  const references = [...policy.features.values()]
    .filter((feature) => feature.rollout)
    .map((feature) => `${feature.key} → ${feature.rollout?.unleash}`);
  if (references.length > 0) {
    logger.warn(
      { features: references },
      'rollout.unleash is ignored: set UNLEASH_URL and UNLEASH_API_TOKEN to use release toggles',
    );
  }
}
