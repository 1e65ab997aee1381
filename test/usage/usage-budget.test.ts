// The usage API's own budget (ENTITLE_RATE_LIMIT_USAGE, per principal) and what it bounds: how
// much one principal can make the store grow per minute (docs/limits-and-hardening.md).

import { afterEach, describe, expect, it } from 'vitest';
import type { SqlStore } from '../../src/store/sql-store.js';
import { buildTestApp, type TestApp } from '../support/app.js';

const SMS = 'sms_reminders_per_month';
/** The documented bound on one stored outcome's data, at the longest key (200) and feature (128) allowed. */
const OUTCOME_ROW_BYTES = 600;
/** The documented bound on one reservation's data. */
const RESERVATION_ROW_BYTES = 450;

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const port = (app: TestApp) => (app.app.entitle.store as SqlStore).port;

/** Rows and bytes of data a table holds for a tenant (LENGTH of every column, the same on both dialects). */
async function stored(app: TestApp, table: 'usage_outcomes' | 'usage_reservations', tenant: string) {
  const columns =
    table === 'usage_outcomes'
      ? [
          'tenant_id',
          'key',
          'request_hash',
          'operation',
          'feature',
          'period_start',
          'outcome',
          'created_at',
          'expires_at',
        ]
      : ['id', 'tenant_id', 'feature', 'period_start', 'holder', 'expires_at', 'created_at'];
  const bytes = columns.map((column) => `COALESCE(LENGTH(${column}), 0)`).join(' + ');
  const row = await port(app).get(
    `SELECT COUNT(*) AS n, COALESCE(SUM(${bytes} + 16), 0) AS bytes FROM ${table} WHERE tenant_id = $1`,
    [tenant],
  );
  return { rows: Number(row?.n), bytes: Number(row?.bytes) };
}

describe('the usage rate family', () => {
  it('refuses one member past ENTITLE_RATE_LIMIT_USAGE: 400 refused consumes with fresh keys meet 429 for the excess', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_USAGE: '150' } });
    const headers = t.auth(await t.token('tiny', 'mallory', { plan: 'free' }));
    const statuses = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/usage/consume',
        headers,
        payload: { feature: SMS, amount: 1, idempotencyKey: `${String(i).padStart(4, '0')}-${'k'.repeat(195)}` },
      });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 403: 150, 429: 250 });
    // The store grew by what the budget let through, no more: one outcome per admitted request, each within the bound.
    const outcomes = await stored(t, 'usage_outcomes', 'tiny');
    expect(outcomes.rows).toBe(150);
    expect(outcomes.bytes).toBeLessThanOrEqual(150 * OUTCOME_ROW_BYTES);
    // Reads spend the same budget: the usage API is one family.
    expect((await t.app.inject({ method: 'GET', url: '/api/usage', headers })).statusCode).toBe(429);
    // Another principal has a budget of its own, and other families are not spent.
    const other = t.auth(await t.token('tiny', 'mallory', { plan: 'free' }));
    expect((await t.app.inject({ method: 'GET', url: '/api/usage', headers: other })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers })).statusCode).toBe(200);
  });

  it('bounds reservations the same way: at most the budget per minute, each within the documented size', async () => {
    t = await buildTestApp({ env: { ENTITLE_RATE_LIMIT_USAGE: '40' } });
    const admin = t.auth(await t.token('ops', 'root', { role: 'admin' }));
    const headers = t.auth(await t.token('acme', 'alice', { plan: 'pro' }));
    await t.app.inject({
      method: 'PUT',
      url: `/api/admin/tenants/acme/overrides/${SMS}`,
      headers: admin,
      payload: { value: 'unlimited', reason: 'the worst case: nothing refuses a reservation' },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/usage/reserve',
        headers,
        payload: { feature: SMS, amount: 1, ttlSeconds: 86_400, idempotencyKey: `r${i}-${'k'.repeat(190)}` },
      });
      statuses.push(res.statusCode);
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(40);
    expect(statuses.filter((status) => status === 429)).toHaveLength(20);
    const reservations = await stored(t, 'usage_reservations', 'acme');
    expect(reservations.rows).toBe(40);
    expect(reservations.bytes).toBeLessThanOrEqual(40 * RESERVATION_ROW_BYTES);
    const outcomes = await stored(t, 'usage_outcomes', 'acme');
    expect(outcomes.rows).toBe(40);
    expect(outcomes.bytes).toBeLessThanOrEqual(40 * OUTCOME_ROW_BYTES);
  });
});
