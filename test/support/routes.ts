// Every route of the API, for tests that call all of them (bad input, tenant isolation), and a
// snapshot of every row a request could change. test/admin/docs.test.ts checks the list against
// the OpenAPI document, so a new route cannot be left out.

import type { FastifyInstance } from 'fastify';

export interface RouteCase {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** `:tenant`, `:feature`, `:provider` and `:connection` are filled in by the test. */
  readonly url: string;
  readonly admin?: boolean;
}

export const ROUTES: readonly RouteCase[] = [
  { method: 'GET', url: '/api/calendar/status/' },
  { method: 'GET', url: '/api/calendar/list/' },
  { method: 'POST', url: '/api/calendar/sync/' },
  { method: 'DELETE', url: '/api/calendar/disconnect/' },
  { method: 'POST', url: '/api/oauth/:provider/initiate/' },
  { method: 'POST', url: '/api/oauth/:provider/callback/' },
  { method: 'GET', url: '/api/oauth/:provider/callback/' },
  { method: 'GET', url: '/api/entitlements/' },
  { method: 'POST', url: '/api/entitlements/preflight' },
  { method: 'POST', url: '/ofrep/v1/evaluate/flags/:feature' },
  { method: 'POST', url: '/ofrep/v1/evaluate/flags' },
  { method: 'GET', url: '/api/client/features', admin: true },
  { method: 'POST', url: '/api/client/register', admin: true },
  { method: 'POST', url: '/api/client/metrics', admin: true },
  { method: 'POST', url: '/api/admin/tenants', admin: true },
  { method: 'GET', url: '/api/admin/tenants', admin: true },
  { method: 'GET', url: '/api/admin/tenants/:tenant', admin: true },
  { method: 'PATCH', url: '/api/admin/tenants/:tenant', admin: true },
  { method: 'DELETE', url: '/api/admin/tenants/:tenant', admin: true },
  { method: 'GET', url: '/api/admin/tenants/:tenant/entitlements', admin: true },
  { method: 'GET', url: '/api/admin/tenants/:tenant/billing', admin: true },
  { method: 'PUT', url: '/api/admin/tenants/:tenant/billing', admin: true },
  { method: 'DELETE', url: '/api/admin/tenants/:tenant/billing', admin: true },
  { method: 'GET', url: '/api/admin/overrides', admin: true },
  { method: 'GET', url: '/api/admin/tenants/:tenant/overrides', admin: true },
  { method: 'GET', url: '/api/admin/tenants/:tenant/overrides/:feature', admin: true },
  { method: 'PUT', url: '/api/admin/tenants/:tenant/overrides/:feature', admin: true },
  { method: 'DELETE', url: '/api/admin/tenants/:tenant/overrides/:feature', admin: true },
  { method: 'GET', url: '/api/admin/tenants/:tenant/addons', admin: true },
  { method: 'PUT', url: '/api/admin/tenants/:tenant/addons/extra_calendars', admin: true },
  { method: 'DELETE', url: '/api/admin/tenants/:tenant/addons/extra_calendars', admin: true },
  { method: 'GET', url: '/api/admin/plans/pro/versions', admin: true },
  { method: 'POST', url: '/api/admin/plans/pro/migrations', admin: true },
  { method: 'GET', url: '/api/admin/audit', admin: true },
  { method: 'GET', url: '/api/admin/policy', admin: true },
  { method: 'POST', url: '/api/admin/policy/validate', admin: true },
  { method: 'POST', url: '/api/admin/tokens', admin: true },
  { method: 'GET', url: '/api/admin/tokens', admin: true },
  { method: 'DELETE', url: '/api/admin/tokens/000000000000', admin: true },
  { method: 'GET', url: '/api/admin/audit/verify', admin: true },
  { method: 'POST', url: '/api/admin/keys/rotate', admin: true },
  { method: 'POST', url: '/api/usage/consume' },
  { method: 'POST', url: '/api/usage/refund' },
  { method: 'POST', url: '/api/usage/reserve' },
  { method: 'POST', url: '/api/usage/reservations/000000000000/commit' },
  { method: 'POST', url: '/api/usage/reservations/000000000000/release' },
  { method: 'GET', url: '/api/usage' },
  { method: 'GET', url: '/api/admin/tenants/:tenant/usage', admin: true },
  { method: 'POST', url: '/api/admin/tenants/:tenant/usage/:feature/grants', admin: true },
  { method: 'POST', url: '/api/admin/tenants/:tenant/usage/:feature/reset', admin: true },
  { method: 'GET', url: '/api/admin/tenants/:tenant/usage/reservations', admin: true },
  { method: 'POST', url: '/api/admin/tenants/:tenant/usage/reservations/000000000000/release', admin: true },
  { method: 'POST', url: '/api/admin/webhooks', admin: true },
  { method: 'GET', url: '/api/admin/webhooks', admin: true },
  { method: 'GET', url: '/api/admin/webhooks/000000000000', admin: true },
  { method: 'PATCH', url: '/api/admin/webhooks/000000000000', admin: true },
  { method: 'DELETE', url: '/api/admin/webhooks/000000000000', admin: true },
  { method: 'POST', url: '/api/admin/webhooks/000000000000/rotate-secret', admin: true },
  { method: 'GET', url: '/api/admin/webhooks/000000000000/deliveries', admin: true },
  { method: 'GET', url: '/api/admin/webhooks/000000000000/deliveries/dlv_000000000000/attempts', admin: true },
  { method: 'POST', url: '/api/admin/webhooks/000000000000/replay', admin: true },
  { method: 'GET', url: '/console/session', admin: true },
  { method: 'DELETE', url: '/console/session', admin: true },
  { method: 'GET', url: '/metrics', admin: true },
];

export function fill(
  url: string,
  values: { tenant?: string; feature?: string; provider?: string; connection?: string },
): string {
  return url
    .replace(':tenant', encodeURIComponent(values.tenant ?? 'acme'))
    .replace(':feature', encodeURIComponent(values.feature ?? 'can_use_webhooks'))
    .replace(':provider', encodeURIComponent(values.provider ?? 'google'))
    .replace(':connection', encodeURIComponent(values.connection ?? 'c1'));
}

/** Every tenant, override, token and connection row, as comparable JSON. */
export async function rowsOf(app: FastifyInstance): Promise<string> {
  const { store } = app.entitle;
  const { tenants } = await store.changes.loadAll();
  const out: unknown[] = [];
  for (const { tenant, overrides } of [...tenants].sort((a, b) => a.tenant.id.localeCompare(b.tenant.id))) {
    const tokens = (await store.tokens.list({ tenantId: tenant.id })).map((token) => ({
      ...token,
      lastUsedAt: undefined,
    }));
    const connections = await store.connections.list(tenant.id);
    out.push({ tenant, overrides, tokens, connections });
  }
  return JSON.stringify(out);
}
