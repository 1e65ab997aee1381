// Every operation of the app's own OpenAPI document: tests that must cover all routes read them
// from there, so a new route is covered the day it is added.

import type { FastifyInstance } from 'fastify';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Operation {
  readonly method: Method;
  /** As documented, e.g. /api/admin/tenants/{tenant} */
  readonly path: string;
  /** With every path parameter filled in. */
  readonly url: string;
  /** false when the route declares `security: []` (health checks). */
  readonly authenticated: boolean;
  // The OpenAPI operation object as it is.
  readonly spec: Record<string, unknown> & {
    responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
    requestBody?: unknown;
  };
}

const PARAMETERS: Record<string, string> = {
  tenant: 'acme',
  feature: 'can_use_webhooks',
  addon: 'extra_calendars',
  plan: 'pro',
  provider: 'google',
  key: 'can_use_webhooks',
  id: '000000000000',
  deliveryId: 'dlv_000000000000',
};

export async function operationsOf(app: FastifyInstance): Promise<Operation[]> {
  const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as {
    paths: Record<string, Record<string, Operation['spec']>>;
  };
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const url = path.replace(/\{(\w+)\}/g, (_match, name: string) => {
        const value = PARAMETERS[name];
        if (value === undefined) throw new Error(`no test value for the path parameter {${name}} of ${path}: add one`);
        return value;
      });
      const security = operation.security as unknown[] | undefined;
      operations.push({
        method: method.toUpperCase() as Method,
        path,
        url,
        authenticated: !(Array.isArray(security) && security.length === 0),
        spec: operation,
      });
    }
  }
  return operations;
}
