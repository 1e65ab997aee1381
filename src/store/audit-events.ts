// The audit event of every store write, built in one place so that every store (SQLite,
// PostgreSQL) records exactly the same rows for the same write.

import type { CalendarProviderName } from './calendar-shapes.js';
import type { MeterCounter, MeterKey, UsageGrant } from './repositories/usage.js';
import type {
  AuditEvent,
  NewApiToken,
  NewConnection,
  OAuthState,
  Override,
  PlanPlacement,
  SyncCounts,
  Tenant,
  TenantAddon,
  WriteContext,
} from './store.js';

/** Audit details with the request id when there is one. */
export function withRequest(context: WriteContext, details: Record<string, unknown>): Record<string, unknown> {
  return context.requestId ? { ...details, requestId: context.requestId } : details;
}

/** What the audit log keeps of an override. */
export function auditedOverride(override: Override | undefined): Record<string, unknown> | null {
  if (!override) return null;
  return {
    value: override.value,
    reason: override.reason,
    expiresAt: override.expiresAt,
    actor: override.actor,
    version: override.version,
  };
}

const event = (
  context: WriteContext,
  tenantId: string | null,
  action: string,
  target: string | null,
  details: Record<string, unknown>,
): AuditEvent => ({
  actor: context.actor,
  tenantId,
  action,
  target,
  outcome: 'success',
  details: withRequest(context, details),
});

export const auditEvents = {
  usageGranted: (context: WriteContext, grant: UsageGrant) =>
    event(context, grant.tenantId, 'usage.grant', `feature:${grant.feature}`, {
      grantId: grant.id,
      amount: grant.amount,
      reason: grant.reason,
      expiresAt: grant.expiresAt,
    }),
  usageReset: (context: WriteContext, meter: MeterKey, before: MeterCounter) =>
    event(context, meter.tenantId, 'usage.reset', `feature:${meter.feature}`, {
      periodStart: meter.periodStart,
      before: { used: before.used + before.fromGrants },
    }),
  usageThreshold: (
    context: WriteContext,
    meter: MeterKey,
    crossing: { threshold: number; limit: number; used: number },
  ) =>
    event(context, meter.tenantId, `usage.threshold.${crossing.threshold}`, `feature:${meter.feature}`, {
      periodStart: meter.periodStart,
      limit: crossing.limit,
      used: crossing.used,
    }),
  tenantCreated: (context: WriteContext, created: Tenant) =>
    event(context, created.id, 'tenant.create', `tenant:${created.id}`, { after: created }),
  tenantPlanChanged: (context: WriteContext, before: Tenant, after: PlanPlacement, details?: Record<string, unknown>) =>
    event(context, before.id, 'tenant.plan.change', `tenant:${before.id}`, {
      before: { plan: before.plan, planVersion: before.planVersion },
      after: { plan: after.plan, planVersion: after.planVersion },
      ...details,
    }),
  tenantDeleted: (context: WriteContext, before: Tenant) =>
    event(context, before.id, 'tenant.delete', `tenant:${before.id}`, { before }),
  overrideSet: (
    context: WriteContext,
    tenantId: string,
    feature: string,
    before: Override | undefined,
    after: Override,
  ) =>
    event(context, tenantId, 'override.set', `feature:${feature}`, {
      before: auditedOverride(before),
      after: auditedOverride(after),
    }),
  overrideCleared: (context: WriteContext & { reason?: string }, tenantId: string, feature: string, before: Override) =>
    event(context, tenantId, 'override.clear', `feature:${feature}`, {
      before: auditedOverride(before),
      after: null,
      ...(context.reason ? { reason: context.reason } : {}),
    }),
  addonSet: (
    context: WriteContext,
    tenantId: string,
    addon: string,
    before: TenantAddon | undefined,
    after: TenantAddon,
  ) =>
    event(context, tenantId, 'tenant.addon.set', `addon:${addon}`, {
      before: before ? { quantity: before.quantity } : null,
      after: { quantity: after.quantity },
    }),
  addonRemoved: (context: WriteContext, tenantId: string, addon: string, before: TenantAddon) =>
    event(context, tenantId, 'tenant.addon.remove', `addon:${addon}`, {
      before: { quantity: before.quantity },
      after: null,
    }),
  tenantVersionMigrated: (context: WriteContext, tenant: Tenant, to: number, details: Record<string, unknown>) =>
    event(context, tenant.id, 'tenant.plan.migrate', `tenant:${tenant.id}`, {
      before: { plan: tenant.plan, planVersion: tenant.planVersion },
      after: { plan: tenant.plan, planVersion: to },
      ...details,
    }),
  tokenCreated: (context: WriteContext, token: NewApiToken) =>
    event(context, token.tenantId, 'token.create', `token:${token.id}`, {
      userId: token.userId,
      role: token.role,
      expiresAt: token.expiresAt,
    }),
  tokenRevoked: (context: WriteContext, tenantId: string, id: string, userId: string) =>
    event(context, tenantId, 'token.revoke', `token:${id}`, { userId }),
  oauthInitiated: (context: WriteContext, state: OAuthState) =>
    event(context, state.tenantId, 'oauth.initiate', `provider:${state.provider}`, {
      purpose: state.purpose,
      redirectUri: state.redirectUri,
      expiresAt: state.expiresAt,
    }),
  connectionStored: (context: WriteContext, input: NewConnection, id: string, replaced: boolean) =>
    event(context, input.tenantId, replaced ? 'connection.reconnect' : 'connection.create', `connection:${id}`, {
      provider: input.provider,
      purpose: input.purpose,
      accountEmail: input.accountEmail,
      userId: input.userId,
    }),
  connectionTokensRefreshed: (context: WriteContext, tenantId: string, id: string, expiresAt: string | null) =>
    event(context, tenantId, 'connection.tokens.refresh', `connection:${id}`, { expiresAt }),
  connectionDisconnected: (
    context: WriteContext & { reason: string },
    tenantId: string,
    id: string,
    provider: CalendarProviderName | string,
    busyBlocksDeleted: number,
  ) =>
    event(context, tenantId, 'connection.disconnect', `connection:${id}`, {
      provider,
      reason: context.reason,
      busyBlocksDeleted,
    }),
  calendarSynced: (context: WriteContext, tenantId: string, id: string, counts: SyncCounts) =>
    event(context, tenantId, 'calendar.sync', `connection:${id}`, { ...counts }),
  // Key rotation names no request: it is an operator's batch job.
  keysRotated: (context: WriteContext, rewritten: number): AuditEvent => ({
    actor: context.actor,
    tenantId: null,
    action: 'keys.rotate',
    target: null,
    outcome: 'success',
    details: { rewritten },
  }),
};
