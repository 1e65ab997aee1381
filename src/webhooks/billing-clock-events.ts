// entitlements.changed for billing that ends by the clock, with no billing event at that moment:
// a grace period running out, a scheduled cancellation reaching its time (a trial set to cancel
// at its end among them). Decisions evaluate billing lazily (billing/effective-plan.ts), so no
// write happens; a periodic task on every instance looks for such moments since it last looked,
// and the outbox keys each event by tenant, subscription and moment: recorded once.

import { decideAll } from '../entitlements/decide.js';
import { tenantState } from '../entitlements/tenant-directory.js';
import type { MaintenanceTask } from '../maintenance/maintenance.js';
import type { PolicySnapshot } from '../policy/types.js';
import type { WebhookOutboxStore } from '../store/repositories/webhook-outbox.js';
import type { WebhookScanStore } from '../store/repositories/webhook-scans.js';
import type { ChangeFeed } from '../store/store.js';
import { scheduledEnd, type SubscriptionState } from '../store/subscription-state.js';
import { reloadChanges } from './policy-reload-events.js';

const DAY_MS = 86_400_000;

export interface BillingClockOptions {
  readonly scans: Pick<WebhookScanStore, 'subscribedTypes' | 'billingEndsBetween'>;
  readonly snapshots: Pick<ChangeFeed, 'load'>;
  readonly outbox: Pick<WebhookOutboxStore, 'recordOnce'>;
  readonly policy: () => PolicySnapshot;
  /** How often to look (default 30 s). */
  readonly everyMs?: number;
  /** Moments further back than this when an instance starts are not announced (default 1 day: after a long outage). */
  readonly lookbackMs?: number;
}

/** The moment a subscription stops granting its plan by the clock, and what a receiver calls it. */
function clockEnd(subscription: SubscriptionState, graceMs: number): { at: number; kind: string } | undefined {
  if (subscription.status === 'past_due') {
    const since = Date.parse(subscription.pastDueSince ?? subscription.observedAt);
    return { at: since + graceMs, kind: 'billing.grace.ended' };
  }
  if (subscription.status !== 'active' && subscription.status !== 'trialing') return undefined;
  const end = scheduledEnd(subscription);
  if (end === null) return undefined;
  return { at: Date.parse(end), kind: subscription.status === 'trialing' ? 'billing.trial.ended' : 'billing.canceled' };
}

export function billingClockTask(options: BillingClockOptions): MaintenanceTask {
  const lookbackMs = options.lookbackMs ?? DAY_MS;
  let lookedUntil: number | undefined;
  return {
    name: 'webhook-billing-clock',
    everyMs: options.everyMs ?? 30_000,
    run: async (now) => {
      // Since this instance last looked (a failed run looks again from the same place).
      const from = Math.max(lookedUntil ?? 0, now - lookbackMs);
      const snapshot = options.policy();
      if (!snapshot.billing || !(await options.scans.subscribedTypes()).has('entitlements.changed')) {
        lookedUntil = now;
        return 0;
      }
      const graceMs = snapshot.billing.gracePeriodDays * DAY_MS;
      const ids = await options.scans.billingEndsBetween(
        new Date(from).toISOString(),
        new Date(now).toISOString(),
        graceMs,
      );
      const drafts = [];
      for (const tenant of await options.snapshots.load(ids)) {
        const state = tenantState(tenant);
        for (const subscription of tenant.billing?.subscriptions ?? []) {
          const end = clockEnd(subscription, graceMs);
          if (!end || end.at <= from || end.at > now) continue;
          const changes = reloadChanges(decideAll(snapshot, state, end.at - 1), decideAll(snapshot, state, end.at));
          if (changes.length === 0) continue;
          const at = new Date(end.at).toISOString();
          drafts.push({
            key: `${end.kind}:${tenant.tenant.id}:${subscription.id}:${at}`,
            type: 'entitlements.changed',
            tenantId: tenant.tenant.id,
            data: { changes, cause: { kind: end.kind, actor: 'system', subscriptionId: subscription.id, at } },
          });
        }
      }
      const recorded = await options.outbox.recordOnce(drafts);
      lookedUntil = now;
      return recorded;
    },
  };
}
