// Tenant isolation, property-based: random tenants, users, roles, plans, overrides and calendar
// connections; every route (health and docs included) called by every principal — API tokens
// and JWTs (HS256), members, admins and clients — with generated bodies aimed at other tenants'
// resources. Members never see or change another tenant, on any route. Admins see other tenants
// on admin routes (asserted: that is what they are for) and through OFREP, nowhere else. Client
// tokens (server-side SDKs) read decisions for any tenant through OFREP and the Unleash API but
// never an operator's notes, and are refused everything else.

import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/store/store.js';
import { NO_RATE_LIMITS } from '../support/app.js';
import { buildCalendarApp, connectCalendar, startFakes, type Fakes } from '../support/calendar.js';
import { fill, ROUTES, rowsOf, type RouteCase } from '../support/routes.js';
import { runs } from '../support/runs.js';

let fakes: Fakes;
beforeAll(async () => {
  fakes = await startFakes();
});
afterAll(() => fakes.close());

const PLANS = ['free', 'pro', 'business', 'enterprise'] as const;
const JWT_SECRET = 'tenant-isolation-secret-of-at-least-32-characters';

/** Routes anyone may call, and what a browser fetches for the API docs. */
const OPEN_ROUTES: readonly RouteCase[] = [
  { method: 'GET', url: '/healthz' },
  { method: 'GET', url: '/readyz' },
  { method: 'GET', url: '/docs' },
  { method: 'GET', url: '/docs/json' },
];

/** Decisions for any tenant, by design, for admin and client principals. */
const isDecisionRoute = (route: RouteCase) => route.url.startsWith('/ofrep/') || route.url.startsWith('/api/client/');

const worldArbitrary = fc.array(
  fc.record({
    plan: fc.constantFrom(...PLANS),
    users: fc.array(fc.record({ admin: fc.boolean(), connections: fc.integer({ min: 0, max: 2 }) }), {
      minLength: 1,
      maxLength: 2,
    }),
    overrides: fc.array(
      fc.record({
        feature: fc.constantFrom('can_use_calendar_sync', 'can_use_webhooks', 'max_connected_calendars'),
        on: fc.boolean(),
      }),
      { maxLength: 2 },
    ),
  }),
  { minLength: 2, maxLength: 3 },
);

/** Bodies aimed at another tenant: its ids where ids go, mixed with junk, keys present or not. */
function bodyArbitrary(other: { tenant: string; connection: string; email: string }) {
  const aimed = fc.constantFrom(
    other.tenant,
    other.connection,
    other.email,
    'calendar',
    'max_connected_calendars',
    'free',
  );
  return fc.record(
    {
      connectionId: fc.oneof(fc.constant(other.connection), fc.string({ maxLength: 10 })),
      tenantId: aimed,
      context: fc.record({ tenantId: aimed, targetingKey: fc.string({ maxLength: 10 }) }, { requiredKeys: [] }),
      purpose: fc.constantFrom('calendar', 'other'),
      feature: fc.constantFrom('max_connected_calendars', 'can_use_webhooks'),
      value: fc.oneof(fc.boolean(), fc.integer({ min: 0, max: 9 })),
      reason: fc.string({ maxLength: 20 }),
      id: aimed,
      plan: fc.constantFrom(...PLANS),
      userId: fc.string({ maxLength: 12 }),
      code: fc.string({ maxLength: 12 }),
      state: fc.string({ maxLength: 12 }),
    },
    { requiredKeys: [] },
  );
}

interface Principal {
  readonly tenant: string;
  readonly role: Role;
  readonly via: 'token' | 'jwt';
  readonly token: string;
}

const jwt = (tenant: string, user: string, role?: string) =>
  new SignJWT({ tenant_id: tenant, sub: user, ...(role ? { role } : {}) })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));

let worldCounter = 0;

describe('tenant isolation', () => {
  it(
    'no principal sees or changes another tenant except where its role allows it, on any route',
    { timeout: 600_000 },
    async () => {
      let requests = 0;
      await fc.assert(
        fc.asyncProperty(worldArbitrary, fc.integer({ min: 0, max: 1_000_000 }), async (world, seed) => {
          const t = await buildCalendarApp(fakes, { env: { ...NO_RATE_LIMITS, ENTITLE_JWT_SECRET: JWT_SECRET } });
          try {
            const run = ++worldCounter;
            const principals: Principal[] = [];
            /** tenant → what only it (or an operator) may see: its id, connection ids, account emails. */
            const data = new Map<string, { ids: string[]; notes: string[]; connection: string; email: string }>();
            for (const [index, spec] of world.entries()) {
              const tenant = `tnt${run}x${index}`;
              const own = { ids: [tenant], notes: [] as string[], connection: 'none', email: 'none' };
              data.set(tenant, own);
              for (const [u, user] of spec.users.entries()) {
                const userId = `usr${run}x${index}x${u}`;
                // Connections need the feature and room under the limit: connect on enterprise first.
                const token = await t.token(tenant, userId, {
                  plan: 'enterprise',
                  role: user.admin ? 'admin' : 'member',
                });
                principals.push({ tenant, role: user.admin ? 'admin' : 'member', via: 'token', token });
                for (let c = 0; c < user.connections; c++) {
                  const email = `acct${run}x${index}x${u}x${c}@example.com`;
                  const id = await connectCalendar(t, fakes[c % 2 === 0 ? 'google' : 'microsoft'], token, { email });
                  own.ids.push(id, email);
                  own.connection = id;
                  own.email = email;
                }
              }
              principals.push(
                {
                  tenant,
                  role: 'client',
                  via: 'token',
                  token: await t.token(tenant, `sdk${run}x${index}`, { role: 'client' }),
                },
                { tenant, role: 'member', via: 'jwt', token: await jwt(tenant, `jwtm${run}x${index}`) },
                { tenant, role: 'admin', via: 'jwt', token: await jwt(tenant, `jwta${run}x${index}`, 'entitle:admin') },
                {
                  tenant,
                  role: 'client',
                  via: 'jwt',
                  token: await jwt(tenant, `jwtc${run}x${index}`, 'entitle:client'),
                },
              );
              await t.app.entitle.operations.changePlan(tenant, spec.plan, { actor: 'test' });
              for (const override of spec.overrides) {
                const value = override.feature === 'max_connected_calendars' ? (override.on ? 7 : 0) : override.on;
                await t.app.entitle.operations.setOverride(
                  { tenantId: tenant, feature: override.feature, value, reason: `note-${tenant}` },
                  { actor: 'test' },
                );
                own.notes.push(`note-${tenant}`);
              }
            }
            await t.app.entitle.operations.createTenant({ id: `scratch${run}`, plan: 'free' }, { actor: 'test' });

            for (const principal of principals) {
              const label = `${principal.role} ${principal.via} of ${principal.tenant}`;
              const others = [...data].filter(([tenant]) => tenant !== principal.tenant);
              const [otherTenant, other] = others[seed % others.length] as [
                string,
                { connection: string; email: string },
              ];
              const othersRows = async () =>
                JSON.stringify(
                  (JSON.parse(await rowsOf(t.app)) as { tenant: { id: string } }[]).filter(
                    (row) => row.tenant.id !== principal.tenant && !row.tenant.id.startsWith('scratch'),
                  ),
                );
              const before = await othersRows();
              const bodies = fc.sample(bodyArbitrary({ tenant: otherTenant, ...other }), {
                numRuns: runs(1, 3),
                seed: seed + principals.indexOf(principal),
              });

              // Admins may reach other tenants on admin routes: asserted, so the rest of the test means something.
              const adminRead = await t.app.inject({
                method: 'GET',
                url: `/api/admin/tenants/${otherTenant}`,
                headers: { authorization: `Bearer ${principal.token}` },
              });
              if (principal.role === 'admin') expect(adminRead.json(), label).toMatchObject({ id: otherTenant });
              else expect(adminRead.statusCode, label).toBe(403);

              for (const route of [...ROUTES, ...OPEN_ROUTES]) {
                const adminWrite = route.admin && principal.role === 'admin';
                // An admin's writes on admin routes go to a scratch tenant: they are allowed anywhere, and other tenants' rows must stay as they were.
                const target = adminWrite ? `scratch${run}` : otherTenant;
                const url = fill(route.url, {
                  tenant: target,
                  feature: 'can_use_webhooks',
                  provider: seed % 2 === 0 ? 'google' : 'microsoft',
                });
                for (const generated of bodies) {
                  if (adminWrite && !(await t.app.entitle.store.tenants.get(target)))
                    await t.app.entitle.operations.createTenant({ id: target, plan: 'free' }, { actor: 'test' });
                  const body = adminWrite
                    ? JSON.parse(
                        JSON.stringify(generated)
                          .replaceAll(otherTenant, target)
                          .replaceAll(other.connection, 'none')
                          .replaceAll(other.email, 'none'),
                      )
                    : generated;
                  const response = await t.app.inject({
                    method: route.method,
                    url:
                      route.method === 'DELETE' && route.url.includes('disconnect')
                        ? `${url}?connectionId=${other.connection}`
                        : url,
                    headers: { authorization: `Bearer ${principal.token}`, 'x-tenant-id': otherTenant },
                    ...(route.method === 'GET' ? {} : { payload: body as object }),
                  });
                  requests++;
                  const where = `${label}: ${route.method} ${route.url}`;
                  expect(response.statusCode, `${where}: ${response.body.slice(0, 200)}`).toBeLessThan(500);
                  if (
                    route.admin &&
                    principal.role !== 'admin' &&
                    !(principal.role === 'client' && (route.url.startsWith('/api/client/') || route.url === '/metrics'))
                  )
                    expect(response.statusCode, where).toBe(403);
                  // What the principal may see of other tenants here: everything (admin routes, OFREP for an
                  // admin), their decisions but no operator's notes (client on decision routes), or nothing.
                  const seesAll = principal.role === 'admin' && (route.admin === true || isDecisionRoute(route));
                  const seesDecisions = principal.role === 'client' && isDecisionRoute(route);
                  if (seesAll) continue;
                  for (const [tenant, values] of others) {
                    const hidden = seesDecisions
                      ? [...values.notes, ...values.ids.filter((value) => value !== tenant)]
                      : [...values.ids, ...values.notes];
                    for (const value of hidden) expect(response.body, `${where} leaked ${value}`).not.toContain(value);
                  }
                }
              }
              expect(await othersRows(), `${label} changed another tenant`).toBe(before);
            }
          } finally {
            await t.close();
          }
        }),
        { numRuns: runs(2, 30) },
      );
      console.info(`tenant isolation: ${requests} requests checked`);
      expect(requests).toBeGreaterThan(0);
    },
  );
});
