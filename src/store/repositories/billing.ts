// Billing links, subscription statements and processed events, over the SQL port. A billing
// event is handled inside one write transaction that first claims its id: a redelivery, also
// one racing on another instance (writes are serialized), finds the claim and changes nothing.

import type { SubscriptionState } from '../subscription-state.js';
import { BillingLinkConflictError, TenantNotFoundError } from '../../errors.js';
import type { BillingProviderName } from '../../policy/types.js';
import { withRequest } from '../audit-events.js';
import type { SqlExecutor, SqlParam } from '../sql-port.js';
import type { AuditEvent, BillingLink, TenantBilling, WriteContext } from '../store.js';
import { findTenant } from './tenants.js';
import type { StoreContext } from './store-context.js';

interface LinkRow {
  tenant_id: string;
  provider: string;
  customer_id: string;
  created_at: string;
  updated_at: string;
  [column: string]: unknown;
}

interface SubscriptionRow {
  provider: string;
  id: string;
  tenant_id: string;
  customer_id: string;
  status: string;
  prices: string;
  current_period_end: string | null;
  cancel_at_period_end: number | string;
  cancel_at: string | null;
  trial_end: string | null;
  past_due_since: string | null;
  cycle_anchor: string | null;
  observed_at: string;
  [column: string]: unknown;
}

function linkFromRow(row: LinkRow): BillingLink {
  return {
    provider: row.provider as BillingProviderName,
    customerId: row.customer_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function subscriptionFromRow(row: SubscriptionRow): SubscriptionState {
  return {
    provider: row.provider as BillingProviderName,
    id: row.id,
    customerId: row.customer_id,
    status: row.status as SubscriptionState['status'],
    prices: JSON.parse(row.prices) as string[],
    currentPeriodEnd: row.current_period_end,
    cancelAtPeriodEnd: Number(row.cancel_at_period_end) === 1,
    cancelAt: row.cancel_at ?? null,
    trialEnd: row.trial_end,
    pastDueSince: row.past_due_since,
    cycleAnchor: row.cycle_anchor,
    observedAt: row.observed_at,
  };
}

/** A tenant row's billing link read in the same query: `SELECT t.*, ${JOINED_LINK_COLUMNS} … LEFT JOIN billing_links l`. */
export const JOINED_LINK_COLUMNS =
  'l.provider AS link_provider, l.customer_id AS link_customer_id, l.created_at AS link_created_at, l.updated_at AS link_updated_at';

/** The link of a row read with {@link JOINED_LINK_COLUMNS}; undefined when the tenant has none. */
export function joinedLinkOf(row: Record<string, unknown>): BillingLink | undefined {
  if (row.link_provider === null || row.link_provider === undefined) return undefined;
  return linkFromRow({
    tenant_id: '',
    provider: String(row.link_provider),
    customer_id: String(row.link_customer_id),
    created_at: String(row.link_created_at),
    updated_at: String(row.link_updated_at),
  });
}

/** Every billing link by tenant (a small table: read whole at start-up). */
export async function loadLinks(db: SqlExecutor): Promise<Map<string, BillingLink>> {
  const links = new Map<string, BillingLink>();
  for (const row of await db.all<LinkRow>('SELECT * FROM billing_links')) links.set(row.tenant_id, linkFromRow(row));
  return links;
}

/** Subscription statements by tenant; with `only`, the tenants whose id meets its condition. */
export async function loadSubscriptions(
  db: SqlExecutor,
  only?: { readonly condition: (column: string) => string; readonly params: readonly SqlParam[] },
): Promise<Map<string, SubscriptionState[]>> {
  const where = only ? ` WHERE ${only.condition('tenant_id')}` : '';
  const rows = await db.all<SubscriptionRow>(
    `SELECT * FROM billing_subscriptions${where} ORDER BY id`,
    only?.params ?? [],
  );
  const byTenant = new Map<string, SubscriptionState[]>();
  for (const row of rows) {
    const list = byTenant.get(row.tenant_id);
    if (list) list.push(subscriptionFromRow(row));
    else byTenant.set(row.tenant_id, [subscriptionFromRow(row)]);
  }
  return byTenant;
}

/** A tenant's billing from its link and statements; undefined when it has neither. */
export function tenantBillingOf(
  link: BillingLink | undefined,
  subscriptions: readonly SubscriptionState[] | undefined,
): TenantBilling | undefined {
  return link || subscriptions ? { link, subscriptions: subscriptions ?? [] } : undefined;
}

/** What a billing event's handler may do inside the event's transaction. */
export interface BillingTransaction {
  readonly now: string;
  tenantOfCustomer(provider: BillingProviderName, customerId: string): Promise<string | undefined>;
  tenantExists(tenantId: string): Promise<boolean>;
  linkOf(tenantId: string): Promise<BillingLink | undefined>;
  /** Links a tenant that has no link yet to a customer no tenant has. Returns false when either is taken. */
  linkIfFree(tenantId: string, provider: BillingProviderName, customerId: string): Promise<boolean>;
  subscription(
    provider: BillingProviderName,
    id: string,
  ): Promise<(SubscriptionState & { readonly tenantId: string }) | undefined>;
  subscriptionsOf(tenantId: string): Promise<SubscriptionState[]>;
  putSubscription(tenantId: string, subscription: SubscriptionState): Promise<void>;
  /**
   * Sets the tenant's stored plan; returns the plan it had. A move to another plan puts the tenant
   * on `currentVersion` of it; staying on the same plan keeps the version it is on.
   */
  setPlan(tenantId: string, plan: string, currentVersion: number): Promise<string | undefined>;
  /** The add-ons a subscription's items give its tenant: add-on → quantity. */
  subscriptionAddons(provider: BillingProviderName, subscriptionId: string): Promise<Map<string, number>>;
  /** Replaces a subscription's add-ons with `addons` (add-on → quantity; none: it gives none). */
  putSubscriptionAddons(
    tenantId: string,
    provider: BillingProviderName,
    subscriptionId: string,
    addons: ReadonlyMap<string, number>,
  ): Promise<void>;
  audit(events: readonly AuditEvent[]): Promise<void>;
}

/** A handled event: its outcome and tenant, and whether it had been handled before. */
export interface EventOutcome {
  readonly outcome: string;
  readonly tenantId: string | null;
  readonly duplicate: boolean;
}

export class BillingStore {
  constructor(private readonly ctx: StoreContext) {}

  async linkOf(tenantId: string): Promise<BillingLink | undefined> {
    const row = await this.ctx.port.get<LinkRow>('SELECT * FROM billing_links WHERE tenant_id = $1', [tenantId]);
    return row ? linkFromRow(row) : undefined;
  }

  async tenantOfCustomer(provider: BillingProviderName, customerId: string): Promise<string | undefined> {
    return (
      await this.ctx.port.get<{ tenant_id: string }>(
        'SELECT tenant_id FROM billing_links WHERE provider = $1 AND customer_id = $2',
        [provider, customerId],
      )
    )?.tenant_id;
  }

  async subscriptionsOf(tenantId: string): Promise<SubscriptionState[]> {
    return (
      await this.ctx.port.all<SubscriptionRow>('SELECT * FROM billing_subscriptions WHERE tenant_id = $1 ORDER BY id', [
        tenantId,
      ])
    ).map(subscriptionFromRow);
  }

  /** The add-ons a subscription's items give its tenant: add-on → quantity. */
  async subscriptionAddons(provider: BillingProviderName, subscriptionId: string): Promise<Map<string, number>> {
    const rows = await this.ctx.port.all<{ addon: string; quantity: number | string }>(
      'SELECT addon, quantity FROM billing_addons WHERE provider = $1 AND subscription_id = $2',
      [provider, subscriptionId],
    );
    return new Map(rows.map((row) => [row.addon, Number(row.quantity)]));
  }

  /** The outcome an event was handled with, if it was. */
  async processed(provider: BillingProviderName, eventId: string): Promise<string | undefined> {
    return (
      await this.ctx.port.get<{ outcome: string }>(
        'SELECT outcome FROM billing_events WHERE provider = $1 AND id = $2',
        [provider, eventId],
      )
    )?.outcome;
  }

  /**
   * Links a tenant to a billing customer (replacing its link). Throws TenantNotFoundError, and
   * BillingLinkConflictError when another tenant has the customer.
   */
  link(
    tenantId: string,
    provider: BillingProviderName,
    customerId: string,
    context: WriteContext,
  ): Promise<{ before: BillingLink | undefined; after: BillingLink }> {
    return this.ctx.write(async (tx) => {
      if (!(await findTenant(tx, tenantId))) throw new TenantNotFoundError(tenantId);
      const owner = await tx.get<{ tenant_id: string }>(
        'SELECT tenant_id FROM billing_links WHERE provider = $1 AND customer_id = $2',
        [provider, customerId],
      );
      if (owner && owner.tenant_id !== tenantId) throw new BillingLinkConflictError(customerId, owner.tenant_id);
      const beforeRow = await tx.get<LinkRow>('SELECT * FROM billing_links WHERE tenant_id = $1', [tenantId]);
      const before = beforeRow ? linkFromRow(beforeRow) : undefined;
      const now = this.ctx.nowIso();
      await tx.run(
        `INSERT INTO billing_links (tenant_id, provider, customer_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET provider = excluded.provider, customer_id = excluded.customer_id, updated_at = excluded.updated_at`,
        [tenantId, provider, customerId, now],
      );
      const after: BillingLink = { provider, customerId, createdAt: before?.createdAt ?? now, updatedAt: now };
      await this.ctx.appendAudit(tx, [linkAudit(context, tenantId, before, after)]);
      return { before, after };
    });
  }

  /** Removes a tenant's link (its subscriptions stay until reconciled). Returns the link removed. */
  unlink(tenantId: string, context: WriteContext): Promise<BillingLink | undefined> {
    return this.ctx.write(async (tx) => {
      if (!(await findTenant(tx, tenantId))) throw new TenantNotFoundError(tenantId);
      const row = await tx.get<LinkRow>('SELECT * FROM billing_links WHERE tenant_id = $1', [tenantId]);
      if (!row) return undefined;
      await tx.run('DELETE FROM billing_links WHERE tenant_id = $1', [tenantId]);
      const before = linkFromRow(row);
      await this.ctx.appendAudit(tx, [linkAudit(context, tenantId, before, undefined)]);
      return before;
    });
  }

  /**
   * Handles one billing event exactly once. The event id is claimed first, in the same
   * transaction as everything `work` writes: when the claim exists (a redelivery, or another
   * instance got there first), `work` is not run and the stored outcome is returned. When
   * `work` throws, nothing is written, the claim included, so the sender's retry is handled anew.
   * With `eventId` null (a reconcile), no claim is made.
   */
  handle(
    event: { readonly provider: BillingProviderName; readonly id: string | null; readonly type: string },
    work: (tx: BillingTransaction) => Promise<{ outcome: string; tenantId: string | null }>,
  ): Promise<EventOutcome> {
    return this.ctx.write(async (tx) => {
      const now = this.ctx.nowIso();
      if (event.id !== null) {
        const claimed = await tx.run(
          'INSERT INTO billing_events (provider, id, type, tenant_id, outcome, processed_at) VALUES ($1, $2, $3, NULL, $4, $5) ON CONFLICT (provider, id) DO NOTHING',
          [event.provider, event.id, event.type, 'processing', now],
        );
        if (claimed.changes === 0) {
          const stored = await tx.get<{ outcome: string; tenant_id: string | null }>(
            'SELECT outcome, tenant_id FROM billing_events WHERE provider = $1 AND id = $2',
            [event.provider, event.id],
          );
          return { outcome: stored?.outcome ?? 'processing', tenantId: stored?.tenant_id ?? null, duplicate: true };
        }
      }
      const result = await work(this.#transaction(tx, now));
      if (event.id !== null) {
        await tx.run('UPDATE billing_events SET outcome = $1, tenant_id = $2 WHERE provider = $3 AND id = $4', [
          result.outcome,
          result.tenantId,
          event.provider,
          event.id,
        ]);
      }
      return { ...result, duplicate: false };
    });
  }

  /**
   * Takes (or renews) the lease `name` for `holder` until `now + ms`, unless another holder's
   * lease is still running. Returns whether `holder` has it: one instance at a time, across
   * processes, on either database (the write transaction serializes the check and the take).
   */
  acquireLease(name: string, holder: string, ms: number): Promise<boolean> {
    return this.ctx.write(
      async (tx) => {
        const now = this.ctx.clock();
        const row = await tx.get<{ holder: string; expires_at: string }>(
          'SELECT holder, expires_at FROM billing_leases WHERE name = $1',
          [name],
        );
        if (row && row.holder !== holder && Date.parse(row.expires_at) > now) return false;
        const until = new Date(now + ms).toISOString();
        await tx.run(
          'INSERT INTO billing_leases (name, holder, expires_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at',
          [name, holder, until],
        );
        return true;
      },
      { hooks: false },
    );
  }

  /** Gives a lease back early (when `holder` still has it). */
  async releaseLease(name: string, holder: string): Promise<void> {
    await this.ctx.write((tx) => tx.run('DELETE FROM billing_leases WHERE name = $1 AND holder = $2', [name, holder]), {
      hooks: false,
    });
  }

  #transaction(tx: SqlExecutor, now: string): BillingTransaction {
    const ctx = this.ctx;
    return {
      now,
      tenantOfCustomer: async (provider, customerId) =>
        (
          await tx.get<{ tenant_id: string }>(
            'SELECT tenant_id FROM billing_links WHERE provider = $1 AND customer_id = $2',
            [provider, customerId],
          )
        )?.tenant_id,
      tenantExists: async (tenantId) => (await findTenant(tx, tenantId)) !== undefined,
      linkOf: async (tenantId) => {
        const row = await tx.get<LinkRow>('SELECT * FROM billing_links WHERE tenant_id = $1', [tenantId]);
        return row ? linkFromRow(row) : undefined;
      },
      linkIfFree: async (tenantId, provider, customerId) => {
        const taken = await tx.get(
          'SELECT 1 AS taken FROM billing_links WHERE tenant_id = $1 OR (provider = $2 AND customer_id = $3)',
          [tenantId, provider, customerId],
        );
        if (taken) return false;
        await tx.run(
          'INSERT INTO billing_links (tenant_id, provider, customer_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)',
          [tenantId, provider, customerId, now],
        );
        return true;
      },
      subscription: async (provider, id) => {
        const row = await tx.get<SubscriptionRow>(
          'SELECT * FROM billing_subscriptions WHERE provider = $1 AND id = $2',
          [provider, id],
        );
        return row ? { ...subscriptionFromRow(row), tenantId: row.tenant_id } : undefined;
      },
      subscriptionsOf: async (tenantId) =>
        (
          await tx.all<SubscriptionRow>('SELECT * FROM billing_subscriptions WHERE tenant_id = $1 ORDER BY id', [
            tenantId,
          ])
        ).map(subscriptionFromRow),
      putSubscription: async (tenantId, s) => {
        await tx.run(
          `INSERT INTO billing_subscriptions (provider, id, tenant_id, customer_id, status, prices, current_period_end, cancel_at_period_end, cancel_at, trial_end, past_due_since, cycle_anchor, observed_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (provider, id) DO UPDATE SET tenant_id = excluded.tenant_id, customer_id = excluded.customer_id, status = excluded.status, prices = excluded.prices,
             current_period_end = excluded.current_period_end, cancel_at_period_end = excluded.cancel_at_period_end, cancel_at = excluded.cancel_at, trial_end = excluded.trial_end,
             past_due_since = excluded.past_due_since, cycle_anchor = excluded.cycle_anchor, observed_at = excluded.observed_at, updated_at = excluded.updated_at`,
          [
            s.provider,
            s.id,
            tenantId,
            s.customerId,
            s.status,
            JSON.stringify(s.prices),
            s.currentPeriodEnd,
            s.cancelAtPeriodEnd ? 1 : 0,
            s.cancelAt,
            s.trialEnd,
            s.pastDueSince,
            s.cycleAnchor,
            s.observedAt,
            now,
          ],
        );
      },
      setPlan: async (tenantId, plan, currentVersion) => {
        const tenant = await findTenant(tx, tenantId);
        if (!tenant) return undefined;
        if (tenant.plan !== plan)
          await tx.run('UPDATE tenants SET plan = $1, plan_version = $2, updated_at = $3 WHERE id = $4', [
            plan,
            currentVersion,
            now,
            tenantId,
          ]);
        return tenant.plan;
      },
      subscriptionAddons: async (provider, subscriptionId) => {
        const rows = await tx.all<{ addon: string; quantity: number | string }>(
          'SELECT addon, quantity FROM billing_addons WHERE provider = $1 AND subscription_id = $2',
          [provider, subscriptionId],
        );
        return new Map(rows.map((row) => [row.addon, Number(row.quantity)]));
      },
      putSubscriptionAddons: async (tenantId, provider, subscriptionId, addons) => {
        const held = await tx.all<{ addon: string; quantity: number | string; tenant_id: string }>(
          'SELECT addon, quantity, tenant_id FROM billing_addons WHERE provider = $1 AND subscription_id = $2',
          [provider, subscriptionId],
        );
        for (const row of held)
          if (!addons.has(row.addon))
            await tx.run('DELETE FROM billing_addons WHERE provider = $1 AND subscription_id = $2 AND addon = $3', [
              provider,
              subscriptionId,
              row.addon,
            ]);
        const before = new Map(held.map((row) => [row.addon, row]));
        for (const [addon, quantity] of addons) {
          const row = before.get(addon);
          if (row && Number(row.quantity) === quantity && row.tenant_id === tenantId) continue;
          await tx.run(
            `INSERT INTO billing_addons (provider, subscription_id, tenant_id, addon, quantity, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (provider, subscription_id, addon) DO UPDATE SET tenant_id = excluded.tenant_id, quantity = excluded.quantity, updated_at = excluded.updated_at`,
            [provider, subscriptionId, tenantId, addon, quantity, now],
          );
        }
      },
      audit: async (events) => {
        if (events.length > 0) await ctx.appendAudit(tx, events);
      },
    };
  }
}

function linkAudit(
  context: WriteContext,
  tenantId: string,
  before: BillingLink | undefined,
  after: BillingLink | undefined,
): AuditEvent {
  const shown = (link: BillingLink | undefined) =>
    link ? { provider: link.provider, customerId: link.customerId } : null;
  return {
    actor: context.actor,
    tenantId,
    action: after ? 'billing.link' : 'billing.unlink',
    target: `tenant:${tenantId}`,
    outcome: 'success',
    details: withRequest(context, { before: shown(before), after: shown(after) }),
  };
}
