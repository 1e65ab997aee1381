// What the producers of webhook events with no write of their own read (a policy reload, a trial,
// grace period or meter period ending by the clock): which types endpoints want, the epoch of a
// policy version's announcement, and the rows whose moment passed. The events themselves are
// recorded through the outbox's recordOnce.

import type { StoreContext } from './store-context.js';

/** A meter's counter of one period with usage in it. */
export interface UsedCounter {
  readonly tenantId: string;
  readonly periodStart: string;
  /** Units taken in the period, from the allowance and from grants. */
  readonly used: number;
}

/** Where a page of {@link WebhookScanStore.countersStarted} left off. */
export interface CounterCursor {
  readonly periodStart: string;
  readonly tenantId: string;
}

const POLICY = 'policy';

export class WebhookScanStore {
  constructor(private readonly ctx: StoreContext) {}

  /** The event types some enabled endpoint subscribes to. */
  async subscribedTypes(): Promise<ReadonlySet<string>> {
    const rows = await this.ctx.port.all<{ events: string }>(
      'SELECT events FROM webhook_endpoints WHERE disabled_at IS NULL',
    );
    return new Set(rows.flatMap((row) => JSON.parse(row.events) as string[]));
  }

  /**
   * The epoch of the reload to policy `version`: the one already stored when another instance
   * noticed this version last (the same reload), else the next one (a new reload, also of a
   * version that was in force before). Writes are serialized, so two instances read one answer.
   */
  policyEpoch(version: string): Promise<number> {
    return this.ctx.write(
      async (tx) => {
        const row = await tx.get<{ version: string; epoch: number }>(
          'SELECT version, epoch FROM webhook_policy_reloads WHERE name = $1',
          [POLICY],
        );
        if (row?.version === version) return Number(row.epoch);
        const epoch = Number(row?.epoch ?? 0) + 1;
        await tx.run(
          `INSERT INTO webhook_policy_reloads (name, version, epoch, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (name) DO UPDATE SET version = $2, epoch = $3, updated_at = $4`,
          [POLICY, version, epoch, this.ctx.nowIso()],
        );
        return epoch;
      },
      { hooks: false },
    );
  }

  /**
   * Counters of `feature` with usage whose period started in [from, to), in (start, tenant)
   * order, `limit` at a time after `after`: a row-value seek on usage_counters_by_period (the
   * database's own collation: the cursor never leaves this process, so byte order is not needed).
   */
  async countersStarted(
    feature: string,
    range: { readonly from: string; readonly to: string },
    after: CounterCursor | undefined,
    limit: number,
  ): Promise<UsedCounter[]> {
    // Before the first page the lower bound is the row value (from, ''): one index seek either way.
    const rows = await this.ctx.port.all<{
      tenant_id: string;
      period_start: string;
      used: number;
      from_grants: number;
    }>(
      `SELECT tenant_id, period_start, used, from_grants FROM usage_counters
       WHERE feature = $1 AND (period_start, tenant_id) > ($2, $3) AND period_start < $4 AND (used > 0 OR from_grants > 0)
       ORDER BY period_start, tenant_id LIMIT $5`,
      [feature, after?.periodStart ?? range.from, after?.tenantId ?? '', range.to, limit],
    );
    return rows.map((row) => ({
      tenantId: row.tenant_id,
      periodStart: row.period_start,
      used: Number(row.used) + Number(row.from_grants),
    }));
  }

  /**
   * Tenants with a subscription whose plan may end by the clock in (from, to]: a grace period
   * (`graceMs` after the first failed payment) or a scheduled cancellation (a trial set to
   * cancel at its end among them). The caller works out the exact moment from the subscription.
   */
  async billingEndsBetween(from: string, to: string, graceMs: number): Promise<string[]> {
    const shift = (iso: string) => new Date(Date.parse(iso) - graceMs).toISOString();
    const rows = await this.ctx.port.all<{ tenant_id: string }>(
      `SELECT DISTINCT tenant_id FROM billing_subscriptions
       WHERE (status = 'past_due' AND coalesce(past_due_since, observed_at) > $1 AND coalesce(past_due_since, observed_at) <= $2)
          OR (status IN ('active', 'trialing') AND (
                (cancel_at > $3 AND cancel_at <= $4)
             OR (cancel_at IS NULL AND cancel_at_period_end <> 0 AND current_period_end > $3 AND current_period_end <= $4)))`,
      [shift(from), shift(to), from, to],
    );
    return rows.map((row) => row.tenant_id);
  }
}
