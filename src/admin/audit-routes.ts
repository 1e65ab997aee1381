// The audit log for operators: newest first, filtered by tenant, action and time, a page at a time.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { EntitleServices } from '../services.js';
import { ADMIN } from './admin-schemas.js';
import { AuditQuery, AuditRecordBody, ErrorBody } from './admin-schemas.js';

export const auditRoutes: FastifyPluginAsyncTypebox<{ services: EntitleServices }> = async (fastify, { services }) => {
  fastify.get(
    '/audit',
    {
      config: ADMIN,
      schema: {
        tags: ['audit'],
        summary: 'Audit rows, newest first',
        querystring: AuditQuery,
        response: { 200: Type.Object({ items: Type.Array(AuditRecordBody), nextCursor: Type.Optional(Type.String()) }), 400: ErrorBody },
      },
    },
    async (request) => {
      const { tenant, action, since, until, after, limit } = request.query;
      const page = await services.store.audit.list({
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
