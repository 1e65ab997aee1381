// Tenant isolation, property-based: random tenants, users, roles, plans, overrides and calendar
// connections; every route called by every principal, aimed at other tenants' resources. No
// response of a tenant token ever contains another tenant's data, no such request changes
// another tenant's rows, and admin routes are 403 for tenant tokens.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCalendarApp, connectCalendar, startFakes, type Fakes } from '../support/calendar.js';
import { fill, ROUTES, rowsOf } from '../support/routes.js';
import { runs } from '../support/runs.js';

let fakes: Fakes;
beforeAll(async () => {
  fakes = await startFakes();
});
afterAll(() => fakes.close());

const PLANS = ['free', 'pro', 'business', 'enterprise'] as const;

const worldArbitrary = fc.array(
  fc.record({
    plan: fc.constantFrom(...PLANS),
    users: fc.array(fc.record({ admin: fc.boolean(), connections: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 3 }),
    overrides: fc.array(fc.record({ feature: fc.constantFrom('can_use_calendar_sync', 'can_use_webhooks', 'max_connected_calendars'), on: fc.boolean() }), { maxLength: 2 }),
  }),
  { minLength: 2, maxLength: 3 },
);

let worldCounter = 0;

describe('tenant isolation', () => {
  it('no tenant token ever sees or changes another tenant, on any route', async () => {
    await fc.assert(
      fc.asyncProperty(worldArbitrary, fc.integer({ min: 0, max: 1000 }), async (world, seed) => {
        const t = await buildCalendarApp(fakes, { env: { ENTITLE_RATE_LIMIT_ADMIN: '1000000', ENTITLE_RATE_LIMIT_OAUTH: '1000000' } });
        try {
          const run = ++worldCounter;
          const principals: { tenant: string; user: string; admin: boolean; token: string }[] = [];
          const secrets = new Map<string, string[]>(); // tenant → strings only it may see
          for (const [index, spec] of world.entries()) {
            const tenant = `tnt${run}x${index}`;
            secrets.set(tenant, [tenant]);
            for (const [u, user] of spec.users.entries()) {
              const userId = `usr${run}x${index}x${u}`;
              // Connections need the feature and room under the limit: connect on enterprise first.
              const token = await t.token(tenant, userId, { plan: 'enterprise', role: user.admin ? 'admin' : 'member' });
              principals.push({ tenant, user: userId, admin: user.admin, token });
              for (let c = 0; c < user.connections; c++) {
                const email = `acct${run}x${index}x${u}x${c}@example.com`;
                const id = await connectCalendar(t, fakes[c % 2 === 0 ? 'google' : 'microsoft'], token, { email });
                secrets.get(tenant)?.push(id, email);
              }
            }
            await t.app.entitle.operations.changePlan(tenant, spec.plan, { actor: 'test' });
            for (const override of spec.overrides) {
              const value = override.feature === 'max_connected_calendars' ? (override.on ? 7 : 0) : override.on;
              await t.app.entitle.operations.setOverride({ tenantId: tenant, feature: override.feature, value, reason: `reason-${tenant}` }, { actor: 'test' });
              secrets.get(tenant)?.push(`reason-${tenant}`);
            }
          }

          for (const principal of principals.filter((p) => !p.admin)) {
            const others = [...secrets].filter(([tenant]) => tenant !== principal.tenant);
            const otherTenant = others[seed % others.length]?.[0] as string;
            const otherConnection = others.flatMap(([, values]) => values).find((value) => /^[0-9a-f-]{36}$/.test(value)) ?? 'nope';
            const before = new Map<string, string>();
            const othersRows = async () => {
              const all = JSON.parse(await rowsOf(t.app)) as { tenant: { id: string } }[];
              return JSON.stringify(all.filter((row) => row.tenant.id !== principal.tenant));
            };
            before.set('rows', await othersRows());
            for (const route of ROUTES) {
              const url = fill(route.url, { tenant: otherTenant, feature: 'can_use_webhooks', provider: seed % 2 === 0 ? 'google' : 'microsoft' });
              const bodies: unknown[] = [
                { connectionId: otherConnection, tenantId: otherTenant, context: { tenantId: otherTenant }, purpose: 'calendar', feature: 'max_connected_calendars', value: true, reason: 'x', id: otherTenant, plan: 'free' },
              ];
              for (const body of bodies) {
                const response = await t.app.inject({
                  method: route.method,
                  url: route.method === 'DELETE' && route.url.includes('disconnect') ? `${url}?connectionId=${otherConnection}` : url,
                  headers: { authorization: `Bearer ${principal.token}`, 'x-tenant-id': otherTenant },
                  ...(route.method === 'GET' ? {} : { payload: body as object }),
                });
                if (route.admin) expect(response.statusCode, `${route.method} ${route.url}`).toBe(403);
                for (const [, values] of others) {
                  for (const value of values) expect(response.body, `${route.method} ${route.url} leaked ${value}`).not.toContain(value);
                }
              }
            }
            expect(await othersRows()).toBe(before.get('rows'));
          }
        } finally {
          await t.close();
        }
      }),
      { numRuns: runs(3, 40) },
    );
  });
});
