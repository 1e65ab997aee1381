// A meter's boolean evaluation flips when it runs out and when units come back: the OFREP event
// streams of its tenant get refetchEvaluation then, and not for every consume in between. The
// events come through the change feed, so a consume on another instance reaches them too.

import { afterEach, describe, expect, it } from 'vitest';
import { issueApiToken } from '../../src/auth/api-tokens.js';
import {
  bulk,
  listeningApp,
  openStream,
  refetch,
  valueOf,
  twoPostgresInstances,
  type Closing,
  type ListeningApp,
} from '../support/ofrep-streams.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';
import type { SseStream } from '../support/sse.js';

const SMS = 'sms_reminders_per_month';

const closing: Closing = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

/** A Pro tenant whose SMS allowance an override sets, its member's token, and an open stream. */
async function meteredTenant(
  r: ListeningApp,
  allowance: number,
): Promise<{ token: string; headers: { authorization: string }; sse: SseStream }> {
  const token = await r.t.token('acme', 'alice', { plan: 'pro' });
  const set = await r.t.app.inject({
    method: 'PUT',
    url: `/api/admin/tenants/acme/overrides/${SMS}`,
    headers: r.t.auth(r.admin),
    payload: { value: allowance, reason: 'test allowance' },
  });
  expect(set.statusCode).toBe(201);
  return { token, headers: r.t.auth(token), sse: await openStream(closing, r.url, token) };
}

/** The stream's next event is for the answer a re-fetch gets now, and the meter shows `value` in it. */
async function expectRefetch(r: ListeningApp, sse: SseStream, token: string, value: number): Promise<string> {
  const event = await refetch(sse);
  const after = await bulk(r.url, token);
  expect(event).toEqual({ type: 'refetchEvaluation', etag: after.etag, lastModified: expect.any(Number) });
  expect(valueOf(after, SMS)).toBe(value);
  return event.etag;
}

describe('OFREP event streams and meters', () => {
  it('send refetchEvaluation when a meter runs out and when a refund, a release, a grant or a reset gives units back, and not for other consumes', async () => {
    const r = await listeningApp(closing);
    const { token, headers, sse } = await meteredTenant(r, 2);
    const usage = (path: string, body: Record<string, unknown>) =>
      r.t.app.inject({ method: 'POST', url: `/api/usage/${path}`, headers, payload: { feature: SMS, ...body } });
    const admin = (path: string, body: Record<string, unknown>) =>
      r.t.app.inject({
        method: 'POST',
        url: `/api/admin/tenants/acme/usage/${SMS}/${path}`,
        headers: r.t.auth(r.admin),
        payload: body,
      });

    expect((await usage('consume', { amount: 1 })).json()).toMatchObject({ remaining: 1 });
    expect((await usage('consume', { amount: 1, idempotencyKey: 'second' })).json()).toMatchObject({ remaining: 0 });
    // The first event is for the meter at 0: the consume before it sent none.
    await expectRefetch(r, sse, token, 0);
    expect((await usage('consume', { amount: 1 })).statusCode).toBe(403);

    // A refund is an operator's (or the tenant's service's): it names the consume it undoes.
    const refund = await r.t.app.inject({
      method: 'POST',
      url: '/api/usage/refund',
      headers: r.t.auth(r.admin),
      payload: { feature: SMS, idempotencyKey: 'second', tenantId: 'acme' },
    });
    expect(refund.json()).toMatchObject({ refunded: 1, remaining: 1 });
    await expectRefetch(r, sse, token, 1);
    const held = (await usage('reserve', { amount: 1, ttlSeconds: 60 })).json();
    expect(held).toMatchObject({ remaining: 0 });
    await expectRefetch(r, sse, token, 0);
    const released = await r.t.app.inject({
      method: 'POST',
      url: `/api/usage/reservations/${held.reservationId}/release`,
      headers,
      payload: {},
    });
    expect(released.json()).toMatchObject({ released: 1, remaining: 1 });
    await expectRefetch(r, sse, token, 1);

    expect((await usage('consume', { amount: 1 })).json()).toMatchObject({ remaining: 0 });
    await expectRefetch(r, sse, token, 0);
    expect((await admin('grants', { amount: 3, reason: 'top-up' })).statusCode).toBe(201);
    await expectRefetch(r, sse, token, 3);
    expect((await usage('consume', { amount: 3 })).json()).toMatchObject({
      remaining: 0,
      from: { allowance: 0, grants: 3 },
    });
    await expectRefetch(r, sse, token, 0);
    expect((await admin('reset', {})).json()).toMatchObject({ used: 0, remaining: 2 });
    await expectRefetch(r, sse, token, 2);
  });

  it('send one when a gated handler takes the last unit, and one when its failure gives the unit back', async () => {
    let fail: () => void = () => {};
    const failing = new Promise<void>((resolve) => (fail = resolve));
    const r = await listeningApp(closing, {
      routes: (app) => {
        app.post('/test/sms', { config: { auth: 'required', feature: { key: SMS, consume: 1 } } }, async () => {
          await failing;
          throw new Error('the SMS provider is down');
        });
      },
    });
    const { token, headers, sse } = await meteredTenant(r, 1);
    const sending = r.t.app.inject({ method: 'POST', url: '/test/sms', headers });
    await expectRefetch(r, sse, token, 0);
    fail();
    expect((await sending).statusCode).toBe(500);
    await expectRefetch(r, sse, token, 1);
  });

  it('send one when the period of a used-up meter ends, with no write', async () => {
    let offset = 0;
    const r = await listeningApp(closing, { clock: () => Date.now() + offset });
    const { token, headers, sse } = await meteredTenant(r, 1);
    // The app's clock runs on, 2.5 s before a month's boundary.
    const boundary = '2027-03-01T00:00:00.000Z';
    offset = Date.parse(boundary) - 2_500 - Date.now();
    const consumed = await r.t.app.inject({
      method: 'POST',
      url: '/api/usage/consume',
      headers,
      payload: { feature: SMS, amount: 1 },
    });
    expect(consumed.json()).toMatchObject({ remaining: 0, resetsAt: boundary });
    const emptied = await refetch(sse);
    const refilled = await refetch(sse);
    expect(Date.now() + offset).toBeGreaterThanOrEqual(Date.parse(boundary));
    expect(refilled.etag).not.toBe(emptied.etag);
    const after = await bulk(r.url, token);
    expect(after.etag).toBe(refilled.etag);
    expect(valueOf(after, SMS)).toBe(1);
  });
});

describe.skipIf(!process.env.DATABASE_URL)('OFREP event streams and meters on PostgreSQL', () => {
  it('deliver a meter running out on another instance, through the change feed', async () => {
    const [a, b] = await twoPostgresInstances(closing, STARTER_POLICY_DIR, 'entitle_meter_events');
    await a.entitle.operations.createTenant({ id: 'acme', plan: 'pro' }, { actor: 'test:setup' });
    await a.entitle.operations.setOverride(
      { tenantId: 'acme', feature: SMS, value: 1, reason: 'test allowance', expiresAt: null },
      { actor: 'test:setup' },
    );
    const { token } = await issueApiToken(
      a.entitle.store,
      { tenantId: 'acme', userId: 'alice', role: 'member' },
      { actor: 'test:setup' },
    );
    await a.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(a.server.address() as { port: number }).port}`;
    const sse = await openStream(closing, url, token);

    // B has read the tenant A created (its change feed may still be on the way).
    await b.entitle.tenants.sync();
    const consumed = await b.entitle.meters.consume({
      tenantId: 'acme',
      feature: SMS,
      amount: 1,
      context: { actor: 'test:b' },
    });
    expect(consumed.reading).toMatchObject({ remaining: 0 });
    const event = await refetch(sse);
    const after = await bulk(url, token);
    expect(event.etag).toBe(after.etag);
    expect(valueOf(after, SMS)).toBe(0);
  });
});
