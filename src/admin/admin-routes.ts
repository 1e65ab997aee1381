// The admin API under /api/admin: tenants, overrides, entitlements, audit, policy, API tokens,
// key rotation, metered usage and webhooks, for admin-role tokens only (rate-limited per principal: src/http/rate-limit.ts).

import type { FastifyPluginAsync } from 'fastify';
import { addonRoutes, type AddonRoutesOptions } from './addon-routes.js';
import { auditRoutes, type AuditRoutesOptions } from './audit-routes.js';
import { overrideRoutes, type OverrideRoutesOptions } from './override-routes.js';
import { planRoutes, type PlanRoutesOptions } from './plan-routes.js';
import { policyRoutes, type PolicyRoutesOptions } from './policy-routes.js';
import { tenantBillingRoutes, type TenantBillingRoutesOptions } from './tenant-billing-routes.js';
import { tenantRoutes, type TenantRoutesOptions } from './tenant-routes.js';
import { tokenRoutes, type TokenRoutesOptions } from './token-routes.js';
import { usageAdminRoutes, type UsageAdminRoutesOptions } from './usage-admin-routes.js';
import { webhookRoutes, type WebhookRoutesOptions } from './webhook-routes.js';

/** What the admin routes use together. */
export type AdminRoutesOptions = AddonRoutesOptions &
  AuditRoutesOptions &
  OverrideRoutesOptions &
  PolicyRoutesOptions &
  PlanRoutesOptions &
  TenantRoutesOptions &
  TenantBillingRoutesOptions &
  TokenRoutesOptions &
  UsageAdminRoutesOptions &
  WebhookRoutesOptions;

export const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (fastify, options) => {
  const { store, operations, policy, tenants, releases, cipher, clock, policyDirectory, reader, meters, webhooks } =
    options;
  await fastify.register(tenantRoutes, { store, operations, policy, releases, clock });
  await fastify.register(tenantBillingRoutes, { store, policy, clock });
  await fastify.register(overrideRoutes, { store, operations, policy, clock });
  await fastify.register(addonRoutes, { store, operations });
  await fastify.register(auditRoutes, { store });
  await fastify.register(policyRoutes, { policy, tenants, store, policyDirectory, clock, reader });
  await fastify.register(planRoutes, { store, policy, clock });
  await fastify.register(tokenRoutes, { store, cipher, clock });
  await fastify.register(usageAdminRoutes, { meters });
  await fastify.register(webhookRoutes, { webhooks });
};
