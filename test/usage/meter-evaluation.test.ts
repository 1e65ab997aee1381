import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

const SMS = 'sms_reminders_per_month';

describe('meters read everywhere', () => {
  let t: TestApp;
  let headers: { authorization: string };
  const now = Date.parse('2026-07-04T10:00:00Z');

  beforeEach(async () => {
    t = await buildTestApp({
      clock: () => now,
      routes: (app) => {
        app.post<{ Body: { amount: number } }>('/test/batch', { config: { auth: 'required' } }, async (request) => {
          const result = await request.entitlements.consume(SMS, request.body.amount, { idempotencyKey: 'batch-1' });
          return {
            granted: result.granted,
            remaining: result.body.remaining,
            after: (await request.entitlements.details(SMS)).value,
          };
        });
      },
    });
    headers = t.auth(await t.token('acme', 'alice', { plan: 'pro' }));
    await t.app.inject({ method: 'POST', url: '/api/usage/consume', headers, payload: { feature: SMS, amount: 20 } });
  });
  afterEach(() => t.close());

  it('evaluates a meter through OpenFeature as a number (remaining) or a boolean, with limit, used and resetsAt in the metadata', async () => {
    const { client } = t.app.entitle;
    const number = await client.getNumberDetails(SMS, -1, { tenantId: 'acme' });
    expect(number).toMatchObject({ value: 480, reason: 'TARGETING_MATCH', variant: 'plan:pro' });
    expect(number.flagMetadata).toMatchObject({
      limit: 500,
      used: 20,
      remaining: 480,
      unit: 'SMS',
      resetsAt: '2026-08-01T00:00:00.000Z',
      plan: 'pro',
    });
    expect(await client.getBooleanValue(SMS, false, { tenantId: 'acme' })).toBe(true);
    const free = t.auth(await t.token('tiny', 'carol', { plan: 'free' }));
    expect(free).toBeDefined();
    expect(await client.getBooleanValue(SMS, true, { tenantId: 'tiny' })).toBe(false);
    expect((await client.getStringDetails(SMS, '', { tenantId: 'acme' })).errorCode).toBe('TYPE_MISMATCH');
  });

  it('answers a meter over OFREP as its remaining units with the same metadata', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/ofrep/v1/evaluate/flags/${SMS}`,
      headers,
      payload: { context: {} },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      key: SMS,
      value: 480,
      metadata: { limit: 500, used: 20, remaining: 480, resetsAt: '2026-08-01T00:00:00.000Z' },
    });
  });

  it('lists each meter in GET /api/entitlements/ with limit, used, remaining and resetsAt', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers });
    expect(res.json().features[SMS]).toEqual({
      name: 'SMS reminders per month',
      type: 'meter',
      value: 480,
      enabled: true,
      cause: 'IN_PLAN',
      limit: 500,
      used: 20,
      remaining: 480,
      unit: 'SMS',
      resetsAt: '2026-08-01T00:00:00.000Z',
    });
  });

  it('counts consumes and units in the metrics', async () => {
    const admin = t.auth(await t.token('ops', 'root', { role: 'admin' }));
    const text = (await t.app.inject({ method: 'GET', url: '/metrics', headers: admin })).body;
    expect(text).toContain(`entitle_usage_consumes_total{feature="${SMS}",outcome="granted"} 1`);
    expect(text).toContain(`entitle_usage_units_consumed_total{feature="${SMS}"} 20`);
  });

  it('lets a handler consume in process through request.entitlements, idempotently', async () => {
    const first = await t.app.inject({ method: 'POST', url: '/test/batch', headers, payload: { amount: 30 } });
    expect(first.json()).toEqual({ granted: true, remaining: 450, after: 450 });
    const again = await t.app.inject({ method: 'POST', url: '/test/batch', headers, payload: { amount: 30 } });
    expect(again.json()).toEqual({ granted: true, remaining: 450, after: 450 });
  });

  it('names the request in the audit rows of a consume made through request.entitlements', async () => {
    // 20 of 500 are used: 400 more cross 80 % of the allowance, which is audited.
    const res = await t.app.inject({ method: 'POST', url: '/test/batch', headers, payload: { amount: 400 } });
    expect(res.json()).toMatchObject({ granted: true, remaining: 80 });
    const audit = await t.app.entitle.store.audit.list({ tenantId: 'acme', action: 'usage.threshold.80' });
    expect(audit.items.map((row) => row.details?.requestId)).toEqual([res.headers['x-request-id']]);
  });
});
