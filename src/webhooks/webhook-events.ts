// The webhook event catalogue and the rules that turn audit records into events: run by the
// delivery worker over the audit log (the outbox, written in each write's transaction), so an
// event's cause is committed with it; see store/repositories/webhook-fanout.ts.

import { decide, decideAll, type Decision } from '../entitlements/decide.js';
import { tenantState } from '../entitlements/tenant-directory.js';
import type { FeatureValue, PolicySnapshot } from '../policy/types.js';
import type { AuditEventDraft, OutboxDescriber, OutboxEventDraft } from '../store/repositories/webhook-outbox.js';
import type { AuditRecord, Override, TenantAddon, TenantSnapshot } from '../store/store.js';
import type { SubscriptionState } from '../store/subscription-state.js';

/** One feature that decides differently after the change. */
export interface FeatureChange {
  readonly feature: string;
  readonly before: FeatureValue;
  readonly after: FeatureValue;
}

/** Why entitlements changed: the audit action, who did it, and its audit row. */
export interface ChangeCause {
  readonly kind: string;
  readonly actor: string;
  readonly feature?: string;
  /** The add-on set or removed, for the add-on causes. */
  readonly addon?: string;
  readonly auditSeq?: number;
}

/** Audit actions that can change a tenant's decisions. */
const DECIDING = new Set([
  'override.set',
  'override.clear',
  'tenant.plan.change',
  'tenant.plan.migrate',
  'tenant.addon.set',
  'tenant.addon.remove',
  'billing.subscription.change',
  'billing.addon.set',
  'billing.addon.remove',
]);

/** What each audit action is to a receiver. */
const CAUSES: Readonly<Record<string, string>> = {
  'override.set': 'override.set',
  'override.clear': 'override.removed',
  'tenant.plan.change': 'plan.changed',
  'tenant.plan.migrate': 'plan.migrated',
  'tenant.addon.set': 'addon.set',
  'tenant.addon.remove': 'addon.removed',
  'billing.subscription.change': 'billing.subscription.changed',
  'billing.addon.set': 'addon.set',
  'billing.addon.remove': 'addon.removed',
};

export interface WebhookDescriberOptions {
  /** The policy decisions are made under: the one in force when the worker reads the records. */
  readonly policy: () => PolicySnapshot;
}

/** The describer the delivery worker runs over new audit records (services.ts wires it). */
export function webhookDescriber(options: WebhookDescriberOptions): OutboxDescriber {
  return async (records, reader, types) => {
    const drafts: AuditEventDraft[] = [];
    const byTenant = new Map<string, AuditRecord[]>();
    for (const record of records) {
      if (record.tenantId === null || record.outcome !== 'success') continue;
      const list = byTenant.get(record.tenantId);
      if (list) list.push(record);
      else byTenant.set(record.tenantId, [record]);
    }
    for (const [tenantId, list] of byTenant) {
      const changes =
        types.has('entitlements.changed') && list.some((record) => DECIDING.has(record.action))
          ? entitlementChanges(options.policy(), await reader.tenant(tenantId), list, await reader.later(tenantId))
          : new Map<AuditRecord, readonly FeatureChange[]>();
      for (const record of list) {
        const changed = changes.get(record);
        if (changed && changed.length > 0)
          drafts.push({
            type: 'entitlements.changed',
            tenantId,
            auditSeq: record.seq,
            data: { changes: changed, cause: causeOf(record) },
          });
        const other = otherEvent(record);
        if (other && types.has(other.type)) drafts.push({ ...other, auditSeq: record.seq });
      }
    }
    return drafts;
  };
}

const featureOf = (record: AuditRecord): string | undefined =>
  record.target?.startsWith('feature:') ? record.target.slice('feature:'.length) : undefined;

const addonOf = (record: AuditRecord): string | undefined =>
  record.target?.startsWith('addon:') ? record.target.slice('addon:'.length) : undefined;

function causeOf(record: AuditRecord): ChangeCause {
  const feature = featureOf(record);
  const addon = addonOf(record);
  return {
    kind: CAUSES[record.action] ?? record.action,
    actor: record.actor,
    ...(feature ? { feature } : {}),
    ...(addon ? { addon } : {}),
    auditSeq: record.seq,
  };
}

/**
 * The decisions each record changed: the tenant as it is now, walked back one record at a time
 * (each record says what it replaced) through `later` and then `records`, each step decided at
 * its record's time under one policy.
 */
function entitlementChanges(
  snapshot: PolicySnapshot,
  now: TenantSnapshot | undefined,
  records: readonly AuditRecord[],
  later: readonly AuditRecord[],
): Map<AuditRecord, readonly FeatureChange[]> {
  const changes = new Map<AuditRecord, readonly FeatureChange[]>();
  // A tenant deleted since: its earlier changes are not described (documented in docs/webhooks.md).
  if (!now) return changes;
  // An override decides its own feature only: one decision each side instead of every feature's.
  const deciding = records.filter((record) => DECIDING.has(record.action));
  const only = deciding.every((record) => record.action.startsWith('override.'))
    ? [...new Set(deciding.map((record) => featureOf(record) ?? ''))]
    : undefined;
  const decideFor = (tenant: TenantSnapshot, at: number): Decision[] => {
    const state = tenantState(tenant);
    if (!only) return decideAll(snapshot, state, at);
    return only.flatMap((feature) => decide(snapshot, state, feature, at) ?? []);
  };
  let after = now;
  for (const record of [...later].reverse()) if (DECIDING.has(record.action)) after = undo(after, record);
  for (const record of [...deciding].reverse()) {
    const at = Date.parse(record.at);
    const before = undo(after, record);
    changes.set(record, diff(decideFor(before, at), decideFor(after, at)));
    after = before;
  }
  return changes;
}

function diff(before: readonly Decision[], after: readonly Decision[]): FeatureChange[] {
  const was = new Map(before.map((decision) => [decision.feature.key, decision.value]));
  const changed: FeatureChange[] = [];
  for (const decision of after) {
    const previous = was.get(decision.feature.key);
    if (previous !== undefined && !Object.is(previous, decision.value))
      changed.push({ feature: decision.feature.key, before: previous, after: decision.value });
  }
  return changed;
}

type Details = Readonly<Record<string, unknown>>;
const record = (value: unknown): Details | null =>
  typeof value === 'object' && value !== null ? (value as Details) : null;

/** The tenant as it was before `audit`'s change, given the tenant after it. */
function undo(after: TenantSnapshot, audit: AuditRecord): TenantSnapshot {
  const details = audit.details ?? {};
  const feature = audit.target?.slice('feature:'.length) ?? '';
  switch (audit.action) {
    case 'override.set':
    case 'override.clear': {
      const previous = record(details.before);
      const others = after.overrides.filter((override) => override.feature !== feature);
      if (!previous) return { ...after, overrides: others };
      const restored: Override = {
        tenantId: after.tenant.id,
        feature,
        value: previous.value as FeatureValue,
        reason: String(previous.reason ?? ''),
        actor: String(previous.actor ?? ''),
        expiresAt: (previous.expiresAt as string | null | undefined) ?? null,
        createdAt: after.tenant.createdAt,
        updatedAt: after.tenant.updatedAt,
        version: Number(previous.version ?? 0),
      };
      return { ...after, overrides: [...others, restored] };
    }
    case 'tenant.plan.change':
    case 'tenant.plan.migrate': {
      const previous = record(details.before);
      const plan = typeof previous?.plan === 'string' ? previous.plan : after.tenant.plan;
      const planVersion = Number.isSafeInteger(previous?.planVersion)
        ? (previous?.planVersion as number)
        : after.tenant.planVersion;
      return { ...after, tenant: { ...after.tenant, plan, planVersion } };
    }
    case 'tenant.addon.set':
    case 'tenant.addon.remove': {
      const addon = addonOf(audit) ?? '';
      const quantity = record(details.before)?.quantity;
      const others = (after.addons ?? []).filter((held) => held.addon !== addon || held.billing);
      return withAddonBefore(after, others, addon, quantity);
    }
    case 'billing.addon.set':
    case 'billing.addon.remove': {
      const addon = addonOf(audit) ?? '';
      const subscriptionId = String(details.subscriptionId ?? '');
      const quantity = record(details.before)?.quantity;
      const mine = (held: TenantAddon) => held.addon === addon && held.billing?.subscriptionId === subscriptionId;
      const others = (after.addons ?? []).filter((held) => !mine(held));
      return withAddonBefore(after, others, addon, quantity, { provider: 'stripe', subscriptionId });
    }
    case 'billing.subscription.change': {
      const planBefore = record(details.plan)?.before;
      const tenant = typeof planBefore === 'string' ? { ...after.tenant, plan: planBefore } : after.tenant;
      const id = audit.target?.slice('subscription:'.length);
      const billing = after.billing;
      if (!billing) return { ...after, tenant };
      const previous = record(details.before);
      const subscriptions = billing.subscriptions.flatMap((subscription): SubscriptionState[] => {
        if (subscription.id !== id) return [subscription];
        return previous ? [{ ...subscription, ...(previous as Partial<SubscriptionState>) }] : [];
      });
      return { ...after, tenant, billing: { ...billing, subscriptions } };
    }
    default:
      return after;
  }
}

/** The events a record is on its own (not a change of decisions). */
function otherEvent(audit: AuditRecord): OutboxEventDraft | undefined {
  const tenantId = audit.tenantId as string;
  const details = audit.details ?? {};
  const feature = audit.target?.startsWith('feature:') ? audit.target.slice('feature:'.length) : undefined;
  if (audit.action === 'usage.threshold.80' || audit.action === 'usage.threshold.100')
    return {
      type: 'meter.threshold',
      tenantId,
      data: {
        feature,
        threshold: Number(audit.action.slice('usage.threshold.'.length)),
        limit: details.limit,
        used: details.used,
        periodStart: details.periodStart,
      },
    };
  if (audit.action === 'usage.reset')
    return {
      type: 'meter.reset',
      tenantId,
      data: {
        feature,
        periodStart: details.periodStart,
        usedBefore: record(details.before)?.used ?? null,
        cause: 'reset',
      },
    };
  if (audit.action === 'tenant.create') return { type: 'tenant.created', tenantId, data: { tenant: details.after } };
  if (audit.action === 'tenant.delete') return { type: 'tenant.deleted', tenantId, data: { tenant: details.before } };
  if (audit.action === 'billing.subscription.change')
    return {
      type: 'billing.subscription.changed',
      tenantId,
      data: {
        subscriptionId: audit.target?.slice('subscription:'.length),
        before: details.before ?? null,
        after: details.after ?? null,
        plan: details.plan ?? null,
      },
    };
  return undefined;
}

/** The tenant with `others` and, when it held one before (`quantity`), the add-on row as it was. */
function withAddonBefore(
  after: TenantSnapshot,
  others: TenantAddon[],
  addon: string,
  quantity: unknown,
  billing?: TenantAddon['billing'],
): TenantSnapshot {
  if (typeof quantity !== 'number') return { ...after, addons: others };
  const restored: TenantAddon = {
    tenantId: after.tenant.id,
    addon,
    quantity,
    createdAt: after.tenant.createdAt,
    updatedAt: after.tenant.updatedAt,
    ...(billing ? { billing } : {}),
  };
  return { ...after, addons: [...others, restored] };
}
