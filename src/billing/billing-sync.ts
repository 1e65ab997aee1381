// Applies billing events and reconciles with the billing system: the one place where a
// statement about a subscription becomes stored state, a tenant's plan and audit rows.

import type { Logger } from '../logger.js';
import type { PolicySnapshot } from '../policy/types.js';
import type { BillingTransaction, EventOutcome } from '../store/repositories/billing.js';
import type { AuditEvent, EntitleStore } from '../store/store.js';
import type { BillingEvent, BillingSource } from './billing-source.js';
import { addonChanges, addonsOfSubscription } from './billing-addons.js';
import { evaluateBilling, planOfPrices } from './effective-plan.js';
import type { SubscriptionState } from '../store/subscription-state.js';
import { mergeInvoice, mergeSubscription, type MergeResult } from './subscription-order.js';

export interface BillingSyncOptions {
  readonly store: Pick<EntitleStore, 'billing'>;
  readonly source: BillingSource;
  readonly policy: () => PolicySnapshot;
  readonly logger?: Logger;
  /** For reconcile's reading of the plan billing puts a tenant on (default Date.now). */
  readonly clock?: () => number;
}

/** A statement read back from the billing system, when it can be read. */
interface Fresh {
  readonly subscription: SubscriptionState;
  readonly tenantHint: string | undefined;
}

/** One difference reconcile found between Entitle and the billing system. */
export interface Drift {
  readonly subscriptionId: string;
  readonly customerId: string;
  readonly tenantId: string | null;
  /** What differs: the stored facts and the billing system's, or why the subscription cannot be applied. */
  readonly kind: 'missing' | 'changed' | 'unlinked_customer' | 'unmapped_price';
  readonly stored: Readonly<Record<string, unknown>> | null;
  readonly actual: Readonly<Record<string, unknown>>;
}

export interface ReconcileReport {
  readonly dryRun: boolean;
  readonly checked: number;
  readonly drift: readonly Drift[];
  /** Subscriptions whose stored state was replaced by the billing system's. */
  readonly fixed: number;
}

const ACTOR = (provider: string) => `billing:${provider}`;

export class BillingSync {
  /** Events that named a price no plan maps (see the `billing.unmapped_price` audit rows). */
  unmappedPrices = 0;
  readonly #listeners = new Set<(outcome: EventOutcome & { readonly type: string }) => void>();

  constructor(private readonly options: BillingSyncOptions) {}

  get source(): BillingSource {
    return this.options.source;
  }

  /** Calls `listener` after every handled event (metrics). Returns the function that stops it. */
  onOutcome(listener: (outcome: EventOutcome & { readonly type: string }) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Handles a verified event exactly once. With an API key the subscription is read back from
   * the billing system first, so the state stored is the newest whatever order events came in;
   * without one, statements are ordered by their own timestamps.
   */
  async handle(event: BillingEvent): Promise<EventOutcome> {
    const fresh = await this.#readBack(event);
    const result = await this.options.store.billing.handle(event, (tx) => this.#apply(tx, event, fresh));
    if (result.outcome === 'unmapped_price' && !result.duplicate) this.unmappedPrices++;
    for (const listener of this.#listeners) listener({ ...result, type: event.type });
    return result;
  }

  async #readBack(event: BillingEvent): Promise<Fresh | undefined> {
    const { source } = this.options;
    if (!source.canRead) return undefined;
    const id =
      event.kind === 'subscription'
        ? event.subscription.id
        : event.kind === 'invoice' || event.kind === 'checkout'
          ? event.subscriptionId
          : undefined;
    if (id === undefined) return undefined;
    return source.retrieveSubscription(id);
  }

  async #apply(
    tx: BillingTransaction,
    event: BillingEvent,
    fresh: Fresh | undefined,
  ): Promise<{ outcome: string; tenantId: string | null }> {
    const meta = { eventId: event.id, eventType: event.type };
    switch (event.kind) {
      case 'ignored':
        return { outcome: 'ignored', tenantId: null };
      case 'notice': {
        const tenantId = (await tx.tenantOfCustomer(event.provider, event.customerId)) ?? null;
        await tx.audit([
          audit(event.provider, tenantId, 'billing.trial_will_end', `subscription:${event.subscriptionId ?? '-'}`, {
            ...meta,
            ...event.details,
          }),
        ]);
        return { outcome: 'audited', tenantId };
      }
      case 'checkout': {
        const linked = await this.#tenantFor(tx, event.provider, event.customerId, event.tenantHint, meta);
        if (!linked) return { outcome: 'unlinked_customer', tenantId: null };
        if (fresh) return this.#statement(tx, fresh.subscription, fresh.tenantHint, meta);
        return { outcome: 'linked', tenantId: linked };
      }
      case 'subscription':
        return this.#statement(
          tx,
          fresh?.subscription ?? event.subscription,
          fresh?.tenantHint ?? event.tenantHint,
          meta,
        );
      case 'invoice': {
        if (fresh) return this.#statement(tx, fresh.subscription, fresh.tenantHint, meta);
        const stored = await tx.subscription(event.provider, event.subscriptionId);
        // Without a stored subscription there is nothing to mark paid or past due; its own event brings it.
        if (!stored)
          return {
            outcome: 'unknown_subscription',
            tenantId: (await tx.tenantOfCustomer(event.provider, event.customerId)) ?? null,
          };
        return this.#store(
          tx,
          stored.tenantId,
          stored,
          mergeInvoice(stored, { paid: event.paid, at: event.createdAt }),
          meta,
        );
      }
    }
  }

  /** A full statement of a subscription: linked, mapped, ordered, stored, re-planned, audited. */
  async #statement(
    tx: BillingTransaction,
    statement: SubscriptionState,
    tenantHint: string | undefined,
    meta: Readonly<Record<string, string>>,
  ): Promise<{ outcome: string; tenantId: string | null }> {
    const tenantId = await this.#tenantFor(tx, statement.provider, statement.customerId, tenantHint, meta);
    if (!tenantId) {
      await tx.audit([
        audit(
          statement.provider,
          null,
          'billing.unlinked_customer',
          `customer:${statement.customerId}`,
          { ...meta, subscriptionId: statement.id },
          'failure',
        ),
      ]);
      return { outcome: 'unlinked_customer', tenantId: null };
    }
    if (planOfPrices(this.options.policy(), statement.provider, statement.prices) === undefined) {
      await tx.audit([
        audit(
          statement.provider,
          tenantId,
          'billing.unmapped_price',
          `subscription:${statement.id}`,
          { ...meta, prices: statement.prices, status: statement.status },
          'failure',
        ),
      ]);
      return { outcome: 'unmapped_price', tenantId };
    }
    const stored = await tx.subscription(statement.provider, statement.id);
    return this.#store(tx, tenantId, stored, mergeSubscription(stored, statement), meta);
  }

  async #store(
    tx: BillingTransaction,
    tenantId: string,
    stored: SubscriptionState | undefined,
    merge: MergeResult,
    meta: Readonly<Record<string, string>>,
  ): Promise<{ outcome: string; tenantId: string | null }> {
    if (!merge.applied) return { outcome: merge.reason, tenantId };
    const { next } = merge;
    await tx.putSubscription(tenantId, next);
    const snapshot = this.options.policy();
    const evaluation = evaluateBilling(snapshot, await tx.subscriptionsOf(tenantId), Date.parse(tx.now));
    const planBefore = evaluation
      ? await tx.setPlan(tenantId, evaluation.plan, snapshot.plans.get(evaluation.plan)?.version ?? 1)
      : undefined;
    const addons = await this.#addons(tx, tenantId, next, evaluation?.plan, meta);
    // An add-on left out again by a statement that changes nothing else is not audited again.
    if (!merge.changed && planBefore === evaluation?.plan && !addons.some((row) => row.outcome === 'success'))
      return { outcome: 'unchanged', tenantId };
    await tx.audit([
      audit(next.provider, tenantId, 'billing.subscription.change', `subscription:${next.id}`, {
        ...meta,
        before: stored ? facts(stored) : null,
        after: facts(next),
        plan: { before: planBefore ?? null, after: evaluation?.plan ?? null, cause: evaluation?.cause ?? null },
      }),
      ...addons,
    ]);
    return { outcome: 'applied', tenantId };
  }

  /**
   * Replaces the add-ons the subscription's items give (billing's rows only) and returns the audit
   * rows of what changed. An add-on the plan may not hold is left out and audited, never refused:
   * the rest of the statement still applies.
   */
  async #addons(
    tx: BillingTransaction,
    tenantId: string,
    subscription: SubscriptionState,
    plan: string | undefined,
    meta: Readonly<Record<string, string>>,
  ): Promise<AuditEvent[]> {
    const given = addonsOfSubscription(this.options.policy(), subscription, plan);
    if (!given) return [];
    const { provider, id } = subscription;
    const before = await tx.subscriptionAddons(provider, id);
    const changes = addonChanges(before, given.held);
    if (changes.length > 0) await tx.putSubscriptionAddons(tenantId, provider, id, given.held);
    const quantity = (n: number) => (n === 0 ? null : { quantity: n });
    return [
      ...changes.map((change) =>
        audit(
          provider,
          tenantId,
          change.after === 0 ? 'billing.addon.remove' : 'billing.addon.set',
          `addon:${change.addon}`,
          {
            ...meta,
            subscriptionId: id,
            before: quantity(change.before),
            after: quantity(change.after),
          },
        ),
      ),
      ...given.unavailable.map(({ addon, quantity: units }) =>
        audit(
          provider,
          tenantId,
          'billing.addon_unavailable',
          `addon:${addon}`,
          { ...meta, subscriptionId: id, quantity: units, plan: plan ?? null },
          'failure',
        ),
      ),
    ];
  }

  /** The customer's tenant; links it on first sight when the billing system names an existing, unlinked tenant. */
  async #tenantFor(
    tx: BillingTransaction,
    provider: SubscriptionState['provider'],
    customerId: string,
    hint: string | undefined,
    meta: Readonly<Record<string, string>>,
  ): Promise<string | undefined> {
    const linked = await tx.tenantOfCustomer(provider, customerId);
    if (linked || hint === undefined || !(await tx.tenantExists(hint))) return linked;
    if (!(await tx.linkIfFree(hint, provider, customerId))) return undefined;
    await tx.audit([
      audit(provider, hint, 'billing.link', `tenant:${hint}`, {
        ...meta,
        before: null,
        after: { provider, customerId },
      }),
    ]);
    return hint;
  }

  /**
   * Reads every subscription from the billing system and compares it with what is stored.
   * Without `dryRun`, replaces drifted state (audited as `reconcile`) and re-plans its tenant.
   */
  async reconcile(options: { readonly dryRun: boolean }): Promise<ReconcileReport> {
    const { store, source } = this.options;
    if (!source.canRead) throw new Error('reconcile needs STRIPE_API_KEY to read subscriptions');
    const drift: Drift[] = [];
    let checked = 0;
    let fixed = 0;
    for await (const { subscription, tenantHint } of source.listSubscriptions()) {
      checked++;
      const tenantId = (await store.billing.tenantOfCustomer(subscription.provider, subscription.customerId)) ?? null;
      const stored = tenantId
        ? (await store.billing.subscriptionsOf(tenantId)).find((s) => s.id === subscription.id)
        : undefined;
      const found =
        this.#drift(subscription, tenantId, stored, tenantHint) ??
        (tenantId && stored ? await this.#addonDrift(subscription, tenantId, stored) : undefined);
      if (!found) continue;
      drift.push(found);
      if (options.dryRun || found.kind === 'unmapped_price') continue;
      const result = await store.billing.handle(
        { provider: subscription.provider, id: null, type: 'reconcile' },
        (tx) => this.#statement(tx, subscription, tenantHint, { eventId: 'reconcile', eventType: 'reconcile' }),
      );
      if (result.outcome === 'applied' || result.outcome === 'unchanged') fixed++;
    }
    return { dryRun: options.dryRun, checked, drift, fixed };
  }

  /** Drift in the add-ons a subscription's items give (a quantity changed with no event heard). */
  async #addonDrift(
    actual: SubscriptionState,
    tenantId: string,
    stored: SubscriptionState,
  ): Promise<Drift | undefined> {
    const { store, policy, clock = Date.now } = this.options;
    const snapshot = policy();
    const plan = evaluateBilling(snapshot, await store.billing.subscriptionsOf(tenantId), clock())?.plan;
    const given = addonsOfSubscription(snapshot, actual, plan);
    if (!given) return undefined;
    const held = await store.billing.subscriptionAddons(actual.provider, actual.id);
    if (addonChanges(held, given.held).length === 0) return undefined;
    return {
      subscriptionId: actual.id,
      customerId: actual.customerId,
      tenantId,
      kind: 'changed',
      stored: { ...facts(stored), addons: Object.fromEntries(held) },
      actual: { ...facts(actual), addons: Object.fromEntries(given.held) },
    };
  }

  #drift(
    actual: SubscriptionState,
    tenantId: string | null,
    stored: SubscriptionState | undefined,
    hint: string | undefined,
  ): Drift | undefined {
    const base = { subscriptionId: actual.id, customerId: actual.customerId, tenantId, actual: facts(actual) };
    if (!tenantId) return { ...base, tenantId: hint ?? null, kind: 'unlinked_customer', stored: null };
    if (planOfPrices(this.options.policy(), actual.provider, actual.prices) === undefined)
      return { ...base, kind: 'unmapped_price', stored: stored ? facts(stored) : null };
    if (!stored) return { ...base, kind: 'missing', stored: null };
    const a = facts(actual);
    const s = facts(stored);
    const keys = Object.keys(a) as (keyof typeof a)[];
    return keys.some((key) => JSON.stringify(a[key]) !== JSON.stringify(s[key]))
      ? { ...base, kind: 'changed', stored: s }
      : undefined;
  }
}

/** What the audit log and reports keep of a subscription. */
function facts(s: SubscriptionState) {
  return {
    status: s.status,
    prices: s.prices,
    currentPeriodEnd: s.currentPeriodEnd,
    cancelAtPeriodEnd: s.cancelAtPeriodEnd,
    cancelAt: s.cancelAt,
    trialEnd: s.trialEnd,
    customerId: s.customerId,
  };
}

function audit(
  provider: string,
  tenantId: string | null,
  action: string,
  target: string,
  details: Record<string, unknown>,
  outcome: AuditEvent['outcome'] = 'success',
): AuditEvent {
  return { actor: ACTOR(provider), tenantId, action, target, outcome, details };
}
