import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

const SMS = 'sms_reminders_per_month';
const JAN_15 = Date.parse('2026-01-15T12:00:00.000Z');

describe('metered usage over HTTP', () => {
  let t: TestApp;
  let now: number;
  let pro: { authorization: string };
  let admin: { authorization: string };

  beforeEach(async () => {
    now = JAN_15;
    t = await buildTestApp({ clock: () => now });
    pro = t.auth(await t.token('acme', 'alice', { plan: 'pro' }));
    admin = t.auth(await t.token('ops', 'root', { plan: 'free', role: 'admin' }));
  });
  afterEach(() => t.close());

  const consume = (headers: { authorization: string }, body: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/api/usage/consume', headers, payload: { feature: SMS, amount: 1, ...body } });
  /** A tenant whose allowance an override sets (pro's 500 is too many for a test to use up). */
  const withLimit = async (tenant: string, limit: number, plan = 'pro') => {
    const headers = t.auth(await t.token(tenant, 'bob', { plan }));
    const res = await t.app.inject({
      method: 'PUT',
      url: `/api/admin/tenants/${tenant}/overrides/${SMS}`,
      headers: admin,
      payload: { value: limit, reason: 'test allowance' },
    });
    expect(res.statusCode).toBe(201);
    return headers;
  };

  it('grants a consume with the new state of the meter', async () => {
    const res = await consume(pro, {});
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      granted: true,
      feature: SMS,
      featureName: 'SMS reminders per month',
      unit: 'SMS',
      limit: 500,
      used: 1,
      remaining: 499,
      reserved: 0,
      grantsRemaining: 0,
      periodStart: '2026-01-01T00:00:00.000Z',
      resetsAt: '2026-02-01T00:00:00.000Z',
      from: { allowance: 1, grants: 0 },
    });
  });

  it('refuses a free tenant with 403 Limit reached naming the plan that gives more', async () => {
    const free = t.auth(await t.token('tiny', 'carol', { plan: 'free' }));
    const res = await consume(free, {});
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({
      error: 'Limit reached',
      code: 'ENT_ERR_LIMIT_REACHED',
      feature: SMS,
      featureName: 'SMS reminders per month',
      limit: 0,
      used: 0,
      remaining: 0,
      resetsAt: '2026-02-01T00:00:00.000Z',
      requiredPlan: 'pro',
      message: "Your plan's SMS reminders for this month are used up. Upgrade for more, or ask for a top-up.",
    });
  });

  it('names no plan when an override sets the limit, and never counts past it', async () => {
    const headers = await withLimit('capped', 2);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await consume(headers, {}));
    expect(answers.map((res) => res.statusCode)).toEqual([200, 200, 403]);
    expect(answers[2]?.json()).toMatchObject({ limit: 2, used: 2, remaining: 0, requiredPlan: null });
    expect(answers[2]?.json().message).toMatch(/^The limit of 2 SMS for this period is reached/);
  });

  it('answers 400 naming the field for amounts that are not positive whole numbers', async () => {
    for (const amount of [0, -1, 1.5, '1', 1_000_001]) {
      const res = await consume(pro, { amount });
      expect(res.statusCode, JSON.stringify(amount)).toBe(400);
      expect(res.json().error).toMatch(/^body\.amount: /);
    }
    const missing = await t.app.inject({
      method: 'POST',
      url: '/api/usage/consume',
      headers: pro,
      payload: { amount: 1 },
    });
    expect(missing.json()).toMatchObject({ error: 'body.feature: is required' });
    const notMeter = await consume(pro, { feature: 'can_use_webhooks' });
    expect(notMeter.statusCode).toBe(400);
    expect(notMeter.json().error).toBe('feature: "can_use_webhooks" is not a meter');
  });

  describe('idempotency', () => {
    it('returns the first answer to the same key and consumes once', async () => {
      const first = await consume(pro, { amount: 3, idempotencyKey: 'sms-42' });
      const again = await consume(pro, { amount: 3, idempotencyKey: 'sms-42' });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual(first.json());
      const usage = await t.app.inject({ method: 'GET', url: '/api/usage', headers: pro });
      expect(usage.json().meters[0]).toMatchObject({ feature: SMS, used: 3 });
    });

    it('answers 409 to the same key with another body', async () => {
      await consume(pro, { amount: 3, idempotencyKey: 'sms-43' });
      const other = await consume(pro, { amount: 4, idempotencyKey: 'sms-43' });
      expect(other.statusCode).toBe(409);
      expect(other.json()).toMatchObject({ code: 'ENT_ERR_IDEMPOTENCY_CONFLICT' });
    });

    it("keeps a tenant's key its own: another tenant's request with it is a new request", async () => {
      const other = await withLimit('globex', 10);
      await consume(pro, { amount: 3, idempotencyKey: 'shared' });
      const theirs = await consume(other, { amount: 5, idempotencyKey: 'shared' });
      expect(theirs.json()).toMatchObject({ granted: true, used: 5 });
    });

    it('forgets a key after 24 hours', async () => {
      await consume(pro, { amount: 1, idempotencyKey: 'daily' });
      now += 24 * 3_600_000 + 1;
      const later = await consume(pro, { amount: 1, idempotencyKey: 'daily' });
      expect(later.json()).toMatchObject({ used: 2 });
    });

    it('replays a refusal too', async () => {
      const headers = await withLimit('refused', 0);
      const first = await consume(headers, { idempotencyKey: 'r1' });
      expect(first.statusCode).toBe(403);
      await t.app.inject({
        method: 'POST',
        url: `/api/admin/tenants/refused/usage/${SMS}/grants`,
        headers: admin,
        payload: { amount: 5, reason: 'goodwill' },
      });
      const again = await consume(headers, { idempotencyKey: 'r1' });
      expect(again.statusCode).toBe(403);
      expect(again.json()).toEqual(first.json());
    });
  });

  it('rolls the period over exactly at the boundary and keeps the past period', async () => {
    now = Date.parse('2026-01-31T23:59:59.999Z');
    await consume(pro, { amount: 7 });
    now = Date.parse('2026-02-01T00:00:00.000Z');
    const feb = await consume(pro, { amount: 2 });
    expect(feb.json()).toMatchObject({
      used: 2,
      remaining: 498,
      periodStart: '2026-02-01T00:00:00.000Z',
      resetsAt: '2026-03-01T00:00:00.000Z',
    });
    const report = await t.app.inject({ method: 'GET', url: '/api/admin/tenants/acme/usage', headers: admin });
    expect(report.json().history).toEqual([
      { feature: SMS, periodStart: '2026-02-01T00:00:00.000Z', used: 2, fromGrants: 0 },
      { feature: SMS, periodStart: '2026-01-01T00:00:00.000Z', used: 7, fromGrants: 0 },
    ]);
  });

  it('takes from the allowance first, then from grants that expire soonest', async () => {
    const headers = await withLimit('topped', 2);
    const grant = (amount: number, expiresAt?: string) =>
      t.app.inject({
        method: 'POST',
        url: `/api/admin/tenants/topped/usage/${SMS}/grants`,
        headers: admin,
        payload: { amount, reason: 'top-up', ...(expiresAt ? { expiresAt } : {}) },
      });
    const never = (await grant(10)).json();
    const later = (await grant(5, '2026-03-01T00:00:00Z')).json();
    const sooner = (await grant(3, '2026-02-01T00:00:00Z')).json();
    expect(never).toMatchObject({
      amount: 10,
      remaining: 10,
      expiresAt: null,
      reason: 'top-up',
      actor: 'user:root@ops',
    });
    expect((await consume(headers, { amount: 2 })).json()).toMatchObject({
      from: { allowance: 2, grants: 0 },
      remaining: 18,
    });
    expect((await consume(headers, { amount: 4 })).json()).toMatchObject({
      from: { allowance: 0, grants: 4 },
      used: 6,
      remaining: 14,
    });
    const report = (
      await t.app.inject({ method: 'GET', url: '/api/admin/tenants/topped/usage', headers: admin })
    ).json();
    const grants = report.meters[0].grants.map((g: { id: string; remaining: number }) => [g.id, g.remaining]);
    expect(grants).toEqual([
      [later.id, 4],
      [never.id, 10],
    ]);
    expect(sooner.id).toBeDefined();
    // The sooner grant is used up; when the later one expires, only the never-expiring one is left.
    now = Date.parse('2026-03-01T00:00:00Z');
    expect((await t.app.inject({ method: 'GET', url: '/api/usage', headers })).json().meters[0]).toMatchObject({
      used: 0,
      remaining: 12,
      grantsRemaining: 10,
    });
  });

  describe('reservations', () => {
    it('holds units until committed; the unused rest goes back', async () => {
      const headers = await withLimit('resv', 5);
      const held = await t.app.inject({
        method: 'POST',
        url: '/api/usage/reserve',
        headers,
        payload: { feature: SMS, amount: 4, ttlSeconds: 600 },
      });
      expect(held.statusCode).toBe(200);
      expect(held.json()).toMatchObject({
        amount: 4,
        expiresAt: '2026-01-15T12:10:00.000Z',
        reserved: 4,
        remaining: 1,
        used: 0,
      });
      expect((await consume(headers, { amount: 2 })).statusCode).toBe(403);
      const committed = await t.app.inject({
        method: 'POST',
        url: `/api/usage/reservations/${held.json().reservationId}/commit`,
        headers,
        payload: { amount: 1 },
      });
      expect(committed.json()).toMatchObject({ committed: 1, released: 3, used: 1, reserved: 0, remaining: 4 });
      const twice = await t.app.inject({
        method: 'POST',
        url: `/api/usage/reservations/${held.json().reservationId}/commit`,
        headers,
        payload: {},
      });
      expect(twice.statusCode).toBe(404);
    });

    it('gives an expired reservation back without any job, and refuses to commit it', async () => {
      const headers = await withLimit('lapse', 5);
      const held = (
        await t.app.inject({
          method: 'POST',
          url: '/api/usage/reserve',
          headers,
          payload: { feature: SMS, amount: 5, ttlSeconds: 60 },
        })
      ).json();
      expect((await consume(headers, {})).statusCode).toBe(403);
      now += 60_000;
      expect((await t.app.inject({ method: 'GET', url: '/api/usage', headers })).json().meters[0]).toMatchObject({
        reserved: 0,
        remaining: 5,
      });
      expect((await consume(headers, { amount: 5 })).json()).toMatchObject({ granted: true, used: 5 });
      const late = await t.app.inject({
        method: 'POST',
        url: `/api/usage/reservations/${held.reservationId}/commit`,
        headers,
        payload: {},
      });
      expect(late.statusCode).toBe(409);
      expect(late.json()).toMatchObject({ code: 'ENT_ERR_RESERVATION_EXPIRED' });
    });

    it('releases everything, and refuses a reservation the allowance cannot cover', async () => {
      const headers = await withLimit('rel', 3);
      expect(
        (
          await t.app.inject({
            method: 'POST',
            url: '/api/usage/reserve',
            headers,
            payload: { feature: SMS, amount: 4, ttlSeconds: 60 },
          })
        ).statusCode,
      ).toBe(403);
      const held = (
        await t.app.inject({
          method: 'POST',
          url: '/api/usage/reserve',
          headers,
          payload: { feature: SMS, amount: 3, ttlSeconds: 60 },
        })
      ).json();
      const released = await t.app.inject({
        method: 'POST',
        url: `/api/usage/reservations/${held.reservationId}/release`,
        headers,
        payload: {},
      });
      expect(released.json()).toMatchObject({ committed: 0, released: 3, reserved: 0, remaining: 3 });
    });

    it('rejects a ttl over a day and a commit over the reserved amount', async () => {
      const long = await t.app.inject({
        method: 'POST',
        url: '/api/usage/reserve',
        headers: pro,
        payload: { feature: SMS, amount: 1, ttlSeconds: 86_401 },
      });
      expect(long.statusCode).toBe(400);
      expect(long.json().error).toMatch(/^body\.ttlSeconds: /);
      const held = (
        await t.app.inject({
          method: 'POST',
          url: '/api/usage/reserve',
          headers: pro,
          payload: { feature: SMS, amount: 2, ttlSeconds: 60 },
        })
      ).json();
      const over = await t.app.inject({
        method: 'POST',
        url: `/api/usage/reservations/${held.reservationId}/commit`,
        headers: pro,
        payload: { amount: 3 },
      });
      expect(over.statusCode).toBe(400);
      expect(over.json().error).toBe('amount: at most the 2 units reserved');
    });
  });

  describe('tenants', () => {
    it('lets an admin token name the tenant, and a member only its own', async () => {
      expect((await consume(admin, { tenantId: 'acme' })).json()).toMatchObject({ granted: true, used: 1 });
      const member = await consume(pro, { tenantId: 'ops' });
      expect(member.statusCode).toBe(403);
      expect((await consume(admin, { tenantId: 'nobody' })).statusCode).toBe(404);
    });

    it("never lets a member commit another tenant's reservation", async () => {
      const other = await withLimit('other', 5);
      const held = (
        await t.app.inject({
          method: 'POST',
          url: '/api/usage/reserve',
          headers: other,
          payload: { feature: SMS, amount: 2, ttlSeconds: 60 },
        })
      ).json();
      const res = await t.app.inject({
        method: 'POST',
        url: `/api/usage/reservations/${held.reservationId}/commit`,
        headers: pro,
        payload: {},
      });
      expect(res.statusCode).toBe(404);
    });
  });

  it('audits grants, resets and the first crossing of 80 % and 100 % in a period', async () => {
    const headers = await withLimit('watched', 5);
    await consume(headers, { amount: 3 });
    await consume(headers, { amount: 1 }); // 4 of 5: 80 %
    await consume(headers, { amount: 1, idempotencyKey: 'last' }); // 5 of 5: 100 %
    const refund = await t.app.inject({
      method: 'POST',
      url: '/api/usage/refund',
      headers: admin,
      payload: { feature: SMS, idempotencyKey: 'last', tenantId: 'watched' },
    });
    expect(refund.json()).toMatchObject({ refunded: 1, used: 4 });
    await consume(headers, { amount: 1 }); // crosses again: not audited twice
    await t.app.inject({
      method: 'POST',
      url: `/api/admin/tenants/watched/usage/${SMS}/grants`,
      headers: admin,
      payload: { amount: 5, reason: 'goodwill' },
    });
    const reset = await t.app.inject({
      method: 'POST',
      url: `/api/admin/tenants/watched/usage/${SMS}/reset`,
      headers: admin,
    });
    expect(reset.json()).toMatchObject({ used: 0, remaining: 10 });
    const audit = await t.app.inject({
      method: 'GET',
      url: '/api/admin/audit?tenant=watched&action=usage.*',
      headers: admin,
    });
    const rows = audit
      .json()
      .items.map((row: { action: string; details: Record<string, unknown> }) => [row.action, row.details])
      .reverse();
    expect(rows).toEqual([
      ['usage.threshold.80', expect.objectContaining({ limit: 5, used: 4, periodStart: '2026-01-01T00:00:00.000Z' })],
      ['usage.threshold.100', expect.objectContaining({ limit: 5, used: 5 })],
      ['usage.refund', expect.objectContaining({ idempotencyKey: 'last', amount: 1, consumed: 1 })],
      ['usage.grant', expect.objectContaining({ amount: 5, reason: 'goodwill', expiresAt: null })],
      ['usage.reset', expect.objectContaining({ before: { used: 5 }, releasedReservations: 0 })],
    ]);
  });
});
