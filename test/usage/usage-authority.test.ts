// Who may change a meter (usage/usage-authority.ts): a member consumes and never gives back, a
// service refunds the consumes it names, a client only reads, an operator does everything and
// is audited. Run on SQLite, and on PostgreSQL when DATABASE_URL is set.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

const SMS = 'sms_reminders_per_month';
const JAN_15 = Date.parse('2026-01-15T12:00:00.000Z');

type Headers = { authorization: string };

describe('the authority model for usage', () => {
  let t: TestApp;
  let admin: Headers;
  let member: Headers;
  let service: Headers;

  beforeEach(async () => {
    t = await buildTestApp({ clock: () => JAN_15 });
    admin = t.auth(await t.token('ops', 'root', { role: 'admin' }));
    member = t.auth(await t.token('acme', 'alice', { plan: 'pro' }));
    service = t.auth(await t.token('acme', 'billing-app', { role: 'service' }));
    const limited = await t.app.inject({
      method: 'PUT',
      url: `/api/admin/tenants/acme/overrides/${SMS}`,
      headers: admin,
      payload: { value: 10, reason: 'test allowance' },
    });
    expect(limited.statusCode).toBe(201);
  });
  afterEach(() => t.close());

  const post = (url: string, headers: Headers, payload: Record<string, unknown> = {}) =>
    t.app.inject({ method: 'POST', url, headers, payload });
  const consume = (headers: Headers, body: Record<string, unknown> = {}) =>
    post('/api/usage/consume', headers, { feature: SMS, amount: 1, ...body });
  const refund = (headers: Headers, body: Record<string, unknown>) =>
    post('/api/usage/refund', headers, { feature: SMS, ...body });
  const used = async () =>
    (await t.app.inject({ method: 'GET', url: '/api/usage', headers: member })).json().meters[0].used as number;

  describe('a member', () => {
    it('cannot give units back, even of its own consume: the meter stays used up', async () => {
      expect((await consume(member, { amount: 10, idempotencyKey: 'all' })).statusCode).toBe(200);
      expect((await consume(member)).statusCode).toBe(403);
      const res = await refund(member, { idempotencyKey: 'all', amount: 10 });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({
        error: 'A member token may not use this route (it needs service or admin)',
        code: 'ENT_ERR_ROLE_NOT_ALLOWED',
      });
      expect(await used()).toBe(10);
      expect((await consume(member)).statusCode).toBe(403);
    });

    it("commits and releases the reservations it made, not another member's", async () => {
      const bob = t.auth(await t.token('acme', 'bob'));
      const held = (await post('/api/usage/reserve', member, { feature: SMS, amount: 2, ttlSeconds: 60 })).json();
      const theirs = await post(`/api/usage/reservations/${held.reservationId}/commit`, bob);
      expect(theirs.statusCode).toBe(404);
      expect((await post(`/api/usage/reservations/${held.reservationId}/release`, bob)).statusCode).toBe(404);
      const own = await post(`/api/usage/reservations/${held.reservationId}/commit`, member);
      expect(own.json()).toMatchObject({ committed: 2, released: 0, used: 2 });
    });
  });

  describe('a client token', () => {
    it("writes no tenant's meter, its own or another's, and reads any", async () => {
      const client = t.auth(await t.token('sdk', 'unleash', { role: 'client' }));
      const held = (await post('/api/usage/reserve', member, { feature: SMS, amount: 1, ttlSeconds: 60 })).json();
      const writes = [
        await consume(client, { tenantId: 'acme' }),
        await consume(client),
        await refund(client, { idempotencyKey: 'x', tenantId: 'acme' }),
        await post('/api/usage/reserve', client, { feature: SMS, amount: 1, ttlSeconds: 60, tenantId: 'acme' }),
        await post(`/api/usage/reservations/${held.reservationId}/commit`, client, { tenantId: 'acme' }),
        await post(`/api/usage/reservations/${held.reservationId}/release`, client, { tenantId: 'acme' }),
      ];
      expect(writes.map((res) => [res.statusCode, res.json().code])).toEqual(
        Array.from({ length: 6 }, () => [403, 'ENT_ERR_ROLE_NOT_ALLOWED']),
      );
      expect(await used()).toBe(0);
      const read = await t.app.inject({ method: 'GET', url: '/api/usage?tenantId=acme', headers: client });
      expect(read.json()).toMatchObject({ tenant: 'acme', meters: [{ feature: SMS, used: 0, reserved: 1 }] });
    });
  });

  describe('a service token', () => {
    it('consumes for its own tenant and never names another', async () => {
      expect((await consume(service, { amount: 3 })).json()).toMatchObject({ granted: true, used: 3 });
      const other = await consume(service, { tenantId: 'ops' });
      expect(other.statusCode).toBe(403);
      expect(other.json().code).toBe('ENT_ERR_ROLE_NOT_ALLOWED');
    });

    it('refunds a consume it names, at most what it took, once; a repeat gets the same answer', async () => {
      await consume(member, { amount: 4, idempotencyKey: 'sms-batch-7' });
      const first = await refund(service, { idempotencyKey: 'sms-batch-7', amount: 3 });
      expect(first.statusCode).toBe(200);
      expect(first.json()).toMatchObject({ refunded: 3, used: 1, remaining: 9 });
      const again = await refund(service, { idempotencyKey: 'sms-batch-7', amount: 3 });
      expect(again.json()).toEqual(first.json());
      expect(await used()).toBe(1);
      const more = await refund(service, { idempotencyKey: 'sms-batch-7', amount: 1 });
      expect(more.statusCode).toBe(409);
      expect(more.json()).toEqual({
        error: 'idempotencyKey: the consume "sms-batch-7" was already refunded (3 units)',
        code: 'ENT_ERR_REFUND_CONFLICT',
      });
      expect(await used()).toBe(1);
    });

    it('gives back everything the consume took when no amount is named', async () => {
      await consume(service, { amount: 5, idempotencyKey: 'whole' });
      expect((await refund(service, { idempotencyKey: 'whole' })).json()).toMatchObject({ refunded: 5, used: 0 });
    });

    it('refuses a refund larger than its consume, of a refused consume, or naming none', async () => {
      await consume(member, { amount: 2, idempotencyKey: 'two' });
      const larger = await refund(service, { idempotencyKey: 'two', amount: 3 });
      expect(larger.statusCode).toBe(409);
      expect(larger.json()).toEqual({
        error: 'amount: the consume "two" took 2 units; a refund gives back at most that',
        code: 'ENT_ERR_REFUND_CONFLICT',
      });
      await consume(member, { amount: 100, idempotencyKey: 'too-many' });
      const refused = await refund(service, { idempotencyKey: 'too-many' });
      expect([refused.statusCode, refused.json().code]).toEqual([409, 'ENT_ERR_REFUND_CONFLICT']);
      const none = await refund(service, { idempotencyKey: 'never-consumed', amount: 1 });
      expect(none.statusCode).toBe(404);
      expect(none.json()).toEqual({
        error: `idempotencyKey: no consume of "${SMS}" with the key "never-consumed" in the last 24 hours`,
        code: 'ENT_ERR_CONSUME_NOT_FOUND',
      });
      const missing = await post('/api/usage/refund', service, { feature: SMS, amount: 1 });
      expect(missing.statusCode).toBe(400);
      expect(missing.json().error).toBe('body.idempotencyKey: is required');
      expect(await used()).toBe(2);
    });

    it("cannot refund another tenant's consume with the same key", async () => {
      const other = t.auth(await t.token('globex', 'carol', { plan: 'pro' }));
      await consume(other, { amount: 2, idempotencyKey: 'shared' });
      expect((await refund(service, { idempotencyKey: 'shared' })).statusCode).toBe(404);
    });

    it("ends any reservation of its tenant, as the app backend that holds the tenant's work", async () => {
      const held = (await post('/api/usage/reserve', member, { feature: SMS, amount: 2, ttlSeconds: 60 })).json();
      const released = await post(`/api/usage/reservations/${held.reservationId}/release`, service);
      expect(released.json()).toMatchObject({ committed: 0, released: 2, reserved: 0 });
    });
  });

  describe('an operator', () => {
    it('refunds any tenant, audited with the request id', async () => {
      await consume(member, { amount: 3, idempotencyKey: 'op' });
      const res = await refund(admin, { idempotencyKey: 'op', tenantId: 'acme' });
      expect(res.json()).toMatchObject({ refunded: 3, used: 0 });
      const audit = await t.app.inject({
        method: 'GET',
        url: '/api/admin/audit?tenant=acme&action=usage.refund',
        headers: admin,
      });
      expect(audit.json().items).toEqual([
        expect.objectContaining({
          actor: 'user:root@ops',
          target: `feature:${SMS}`,
          details: expect.objectContaining({ idempotencyKey: 'op', amount: 3, requestId: res.headers['x-request-id'] }),
        }),
      ]);
    });
  });
});

describe('reservations', () => {
  let t: TestApp;
  let admin: Headers;
  let member: Headers;
  let now: number;

  beforeEach(async () => {
    now = JAN_15;
    t = await buildTestApp({ clock: () => now });
    admin = t.auth(await t.token('ops', 'root', { role: 'admin' }));
    member = t.auth(await t.token('acme', 'alice', { plan: 'pro' }));
  });
  afterEach(() => t.close());

  const post = (url: string, headers: Headers, payload: Record<string, unknown> = {}) =>
    t.app.inject({ method: 'POST', url, headers, payload });
  /** Reserves, then moves the clock on a second: reservations are listed oldest first. */
  const reserve = async (amount: number) => {
    const held = (await post('/api/usage/reserve', member, { feature: SMS, amount, ttlSeconds: 3600 })).json();
    now += 1000;
    return held;
  };

  it('commit {} consumes everything reserved', async () => {
    const held = await reserve(4);
    const res = await post(`/api/usage/reservations/${held.reservationId}/commit`, member, {});
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ committed: 4, released: 0, used: 4, reserved: 0, remaining: 496 });
  });

  it('a partial commit gives the rest back', async () => {
    const held = await reserve(4);
    const res = await post(`/api/usage/reservations/${held.reservationId}/commit`, member, { amount: 1 });
    expect(res.json()).toMatchObject({ committed: 1, released: 3, used: 1, reserved: 0, remaining: 499 });
  });

  it('operators list and release a tenant’s open reservations, audited', async () => {
    const first = await reserve(2);
    const second = await reserve(3);
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/admin/tenants/acme/usage/reservations',
      headers: admin,
    });
    expect(list.json()).toEqual({
      items: [
        {
          id: first.reservationId,
          tenantId: 'acme',
          feature: SMS,
          periodStart: '2026-01-01T00:00:00.000Z',
          amount: 2,
          holder: 'user:alice@acme',
          expiresAt: '2026-01-15T13:00:00.000Z',
          createdAt: '2026-01-15T12:00:00.000Z',
        },
        expect.objectContaining({ id: second.reservationId, amount: 3 }),
      ],
    });
    const released = await post(`/api/admin/tenants/acme/usage/reservations/${first.reservationId}/release`, admin);
    expect(released.json()).toMatchObject({ committed: 0, released: 2, reserved: 3 });
    const after = await t.app.inject({
      method: 'GET',
      url: '/api/admin/tenants/acme/usage/reservations',
      headers: admin,
    });
    expect(after.json().items.map((r: { id: string }) => r.id)).toEqual([second.reservationId]);
    const audit = await t.app.inject({
      method: 'GET',
      url: '/api/admin/audit?tenant=acme&action=usage.reservation.release',
      headers: admin,
    });
    expect(audit.json().items).toEqual([
      expect.objectContaining({
        actor: 'user:root@ops',
        target: `reservation:${first.reservationId}`,
        details: expect.objectContaining({ amount: 2, holder: 'user:alice@acme' }),
      }),
    ]);
    const member404 = await t.app.inject({
      method: 'GET',
      url: '/api/admin/tenants/acme/usage/reservations',
      headers: member,
    });
    expect(member404.statusCode).toBe(403);
  });

  it("a reset sets usage to 0 and releases the meter's open reservations", async () => {
    await post('/api/usage/consume', member, { feature: SMS, amount: 5 });
    await reserve(7);
    const reset = await post(`/api/admin/tenants/acme/usage/${SMS}/reset`, admin);
    expect(reset.json()).toMatchObject({ used: 0, reserved: 0, remaining: 500, releasedReservations: 7 });
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/admin/tenants/acme/usage/reservations',
      headers: admin,
    });
    expect(list.json()).toEqual({ items: [] });
    // The counter holds nothing reserved any more: the whole allowance can be consumed.
    expect((await post('/api/usage/consume', member, { feature: SMS, amount: 500 })).statusCode).toBe(200);
  });
});
