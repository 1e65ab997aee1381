// The audit log for operators: newest first, filtered by tenant, action (or an action prefix
// such as `override.*`) and time, a page at a time.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ADMIN, AuditQuery, AuditRecordBody, ErrorBody, LIMITED_ERRORS, pageOf } from './admin-schemas.js';
import type { EntitleStore } from '../store/store.js';

/** What the audit routes use. */
export interface AuditRoutesOptions {
  readonly store: Pick<EntitleStore, 'audit'>;
}

export const auditRoutes: FastifyPluginAsyncTypebox<AuditRoutesOptions> = async (fastify, deps) => {
  fastify.get(
    '/audit',
    {
      config: ADMIN,
      schema: {
        tags: ['audit'],
        summary: 'Audit rows, newest first',
        description:
          'action: an exact action (override.set) or a prefix ending in * (override.*). after: the nextCursor of the previous page.',
        querystring: AuditQuery,
        response: { ...LIMITED_ERRORS, 200: pageOf(AuditRecordBody), 400: ErrorBody },
      },
    },
    async (request) => {
      const { tenant, action, since, until, after, limit } = request.query;
      const page = await deps.store.audit.list({
        ...(tenant ? { tenantId: tenant } : {}),
        ...(action ? { action } : {}),
        ...(since ? { since: new Date(since).toISOString() } : {}),
        ...(until ? { until: new Date(until).toISOString() } : {}),
        ...(after ? { after } : {}),
        limit: limit ?? 100,
      });
      return { ...page, items: [...page.items] };
    },
  );
};
