// The admin API under /api/admin: tenants, overrides, entitlements, audit, policy, API tokens
// and key rotation, for admin-role tokens only, rate-limited per caller.

import type { FastifyPluginAsync } from 'fastify';
import { limitRoutes } from '../http/rate-limit.js';
import type { EntitleServices } from '../services.js';
import { auditRoutes } from './audit-routes.js';
import { overrideRoutes } from './override-routes.js';
import { policyRoutes } from './policy-routes.js';
import { tenantBillingRoutes } from './tenant-billing-routes.js';
import { tenantRoutes } from './tenant-routes.js';
import { tokenRoutes } from './token-routes.js';

export const adminRoutes: FastifyPluginAsync<{ services: EntitleServices }> = async (fastify, { services }) => {
  await limitRoutes(fastify, services.config.rateLimits.admin, 'admin');
  await fastify.register(tenantRoutes, { services });
  await fastify.register(tenantBillingRoutes, { services });
  await fastify.register(overrideRoutes, { services });
  await fastify.register(auditRoutes, { services });
  await fastify.register(policyRoutes, { services });
  await fastify.register(tokenRoutes, { services });
};
