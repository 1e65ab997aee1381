// entitlements.changed for overrides that reach their expiry: a change with no write of its own,
// noticed by a periodic task on every instance and recorded once (the outbox keys the event by
// tenant, feature and expiry time, so the instance that notices first records it).

import { decide, type TenantState } from '../entitlements/decide.js';
import type { MaintenanceTask } from '../maintenance/maintenance.js';
import type { PolicySnapshot } from '../policy/types.js';
import type { WebhookOutboxStore } from '../store/repositories/webhook-outbox.js';
import type { OverrideRepository } from '../store/store.js';

export interface OverrideExpiryOptions {
  readonly overrides: Pick<OverrideRepository, 'list'>;
  readonly outbox: Pick<WebhookOutboxStore, 'recordOnce'>;
  readonly policy: () => PolicySnapshot;
  /** The tenant as decisions see it (the tenant directory: read when not in memory). */
  readonly tenant: (tenantId: string) => Promise<TenantState | undefined>;
  /** How often to look (default 30 s). */
  readonly everyMs?: number;
  /** Expiries further back than this are not announced any more (default 1 day: after a long outage). */
  readonly lookbackMs?: number;
}

export function overrideExpiryTask(options: OverrideExpiryOptions): MaintenanceTask {
  const lookbackMs = options.lookbackMs ?? 86_400_000;
  return {
    name: 'webhook-override-expiry',
    everyMs: options.everyMs ?? 30_000,
    run: async (now) => {
      const snapshot = options.policy();
      const drafts = [];
      for (const override of await options.overrides.list()) {
        if (override.expiresAt === null) continue;
        const expiresAt = Date.parse(override.expiresAt);
        if (expiresAt > now || expiresAt <= now - lookbackMs) continue;
        const tenant = await options.tenant(override.tenantId);
        const before = decide(snapshot, tenant, override.feature, expiresAt - 1)?.value;
        const after = decide(snapshot, tenant, override.feature, now)?.value;
        if (before === undefined || after === undefined || Object.is(before, after)) continue;
        drafts.push({
          key: `override.expired:${override.tenantId}:${override.feature}:${override.expiresAt}`,
          type: 'entitlements.changed',
          tenantId: override.tenantId,
          data: {
            changes: [{ feature: override.feature, before, after }],
            cause: { kind: 'override.expired', actor: 'system', feature: override.feature },
          },
        });
      }
      return options.outbox.recordOnce(drafts);
    },
  };
}
