import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

const SMS = 'sms_reminders_per_month';

describe('the meter gate (config.feature.consume)', () => {
  let t: TestApp;
  let headers: { authorization: string };
  const now = Date.parse('2026-05-10T08:00:00Z');

  beforeEach(async () => {
    t = await buildTestApp({
      clock: () => now,
      routes: (app) => {
        app.post<{ Body: { outcome: string } }>(
          '/test/send-sms',
          {
            config: { auth: 'required', feature: { key: SMS, consume: 1 } },
            schema: {
              body: {
                type: 'object',
                required: ['outcome'],
                properties: { outcome: { enum: ['sent', 'throw', '502', 'rejected'] } },
              },
            },
          },
          async (request, reply) => {
            if (request.body.outcome === 'throw') throw new Error('SMS provider unreachable');
            if (request.body.outcome === '502') return reply.status(502).send({ error: 'upstream failed' });
            if (request.body.outcome === 'rejected') return reply.status(422).send({ error: 'bad phone number' });
            return { sent: true };
          },
        );
      },
    });
    headers = t.auth(await t.token('acme', 'alice', { plan: 'pro' }));
    const admin = t.auth(await t.token('ops', 'root', { role: 'admin' }));
    const res = await t.app.inject({
      method: 'PUT',
      url: `/api/admin/tenants/acme/overrides/${SMS}`,
      headers: admin,
      payload: { value: 2, reason: 'small allowance for the test' },
    });
    expect(res.statusCode).toBe(201);
  });
  afterEach(() => t.close());

  const send = (outcome: string, extra: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url: '/test/send-sms', headers: { ...headers, ...extra }, payload: { outcome } });
  const used = async () =>
    (await t.app.inject({ method: 'GET', url: '/api/usage', headers })).json().meters[0].used as number;

  it('consumes one unit per handled request and refuses with 403 Limit reached once the allowance is used', async () => {
    expect((await send('sent')).json()).toEqual({ sent: true });
    expect((await send('sent')).statusCode).toBe(200);
    const refused = await send('sent');
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({
      error: 'Limit reached',
      code: 'ENT_ERR_LIMIT_REACHED',
      feature: SMS,
      limit: 2,
      used: 2,
      remaining: 0,
      resetsAt: '2026-06-01T00:00:00.000Z',
      requiredPlan: null,
    });
    expect(await used()).toBe(2);
  });

  it('gives the unit back when the handler throws or answers a 5xx', async () => {
    expect((await send('throw')).statusCode).toBe(500);
    expect(await used()).toBe(0);
    expect((await send('502')).statusCode).toBe(502);
    expect(await used()).toBe(0);
  });

  it('keeps the unit for a handled 4xx answer, and charges nothing for a request that fails validation', async () => {
    expect((await send('rejected')).statusCode).toBe(422);
    expect(await used()).toBe(1);
    expect((await send('bogus')).statusCode).toBe(400);
    expect(await used()).toBe(1);
  });

  it('counts a retried request with the same Idempotency-Key once', async () => {
    await send('sent', { 'idempotency-key': 'reminder-7' });
    await send('sent', { 'idempotency-key': 'reminder-7' });
    expect(await used()).toBe(1);
  });

  it('answers 401 before consuming anything without a credential', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/test/send-sms', payload: { outcome: 'sent' } });
    expect(res.statusCode).toBe(401);
    expect(await used()).toBe(0);
  });

  it('stops boot when a route names a feature that is not a meter', async () => {
    await expect(
      buildTestApp({
        routes: (app) =>
          app.get(
            '/bad',
            { config: { auth: 'required', feature: { key: 'can_use_webhooks', consume: 1 } } },
            async () => ({}),
          ),
      }),
    ).rejects.toThrow('route /bad: config.feature "can_use_webhooks" is not a meter of the policy');
  });
});
