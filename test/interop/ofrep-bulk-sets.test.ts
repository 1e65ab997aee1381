// OFREP bulk answers kept per caller (interop/ofrep-bulk-sets.ts): a repeated bulk request answers
// exactly what single evaluations answer at that moment, after every kind of change — an
// override written, an override that expires with no write, a meter consumed — and an admin's
// answer (with operators' notes) is never a member's.

import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

interface Flag {
  readonly key: string;
  readonly [field: string]: unknown;
}

describe('OFREP bulk answers kept per caller', () => {
  let t: TestApp;
  let now = Date.parse('2030-01-01T00:00:00Z');
  afterEach(async () => {
    await t.close();
  });

  const post = async (token: string, url: string, body: unknown = { context: {} }) => {
    const response = await t.app.inject({ method: 'POST', url, headers: t.auth(token), payload: body as object });
    return { status: response.statusCode, etag: response.headers.etag, body: response.json<Record<string, unknown>>() };
  };
  const bulk = async (token: string, context: Record<string, string> = {}) => {
    const answer = await post(token, '/ofrep/v1/evaluate/flags', { context });
    expect(answer.status).toBe(200);
    return { etag: answer.etag, flags: answer.body.flags as Flag[] };
  };
  /** What single evaluations answer now, feature by feature. */
  const singles = async (token: string, keys: readonly string[], context: Record<string, string> = {}) =>
    Promise.all(keys.map(async (key) => (await post(token, `/ofrep/v1/evaluate/flags/${key}`, { context })).body));

  /** A bulk answer, twice (the second from the kept answer), each equal to the single evaluations of the moment. */
  const expectExact = async (token: string, context: Record<string, string> = {}) => {
    const first = await bulk(token, context);
    const second = await bulk(token, context);
    expect(second).toEqual(first);
    expect(second.flags).toEqual(
      await singles(
        token,
        second.flags.map((flag) => flag.key),
        context,
      ),
    );
    return second;
  };

  it('answers what single evaluations answer after an override is written and after it expires', async () => {
    t = await buildTestApp({ clock: () => now });
    const token = await t.token('acme', 'alice', { plan: 'free' });
    const before = await expectExact(token);
    const ctx = { actor: 'test:ops' };
    await t.app.entitle.operations.setOverride(
      {
        tenantId: 'acme',
        feature: 'can_use_calendar_sync',
        value: true,
        reason: 'trial',
        expiresAt: '2030-01-01T00:01:00Z',
      },
      ctx,
    );
    const granted = await expectExact(token);
    expect(granted.flags.find((flag) => flag.key === 'can_use_calendar_sync')).toMatchObject({ value: true });
    expect(granted.etag).not.toBe(before.etag);
    now = Date.parse('2030-01-01T00:01:00Z'); // the override ends; nothing is written
    const expired = await expectExact(token);
    expect(expired.flags.find((flag) => flag.key === 'can_use_calendar_sync')).toMatchObject({ value: false });
    expect(expired.flags).toEqual(before.flags);
  });

  it('reads meters afresh: a consume shows in the next answer and its ETag', async () => {
    t = await buildTestApp({ clock: () => now });
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const before = await expectExact(token);
    const meter = () => before.flags.find((flag) => flag.key === 'sms_reminders_per_month') as Flag;
    expect(meter()).toMatchObject({ value: expect.any(Number) });
    const consumed = await t.app.entitle.meters.consume({
      tenantId: 'acme',
      feature: 'sms_reminders_per_month',
      amount: 1,
      context: { actor: 'user:alice' },
    });
    expect(consumed.granted).toBe(true);
    const after = await expectExact(token);
    expect(after.flags.find((flag) => flag.key === 'sms_reminders_per_month')).toMatchObject({
      value: (meter().value as number) - 1,
    });
    expect(after.etag).not.toBe(before.etag);
  });

  it("keeps an admin's answer, with operators' notes, apart from the tenant's own", async () => {
    t = await buildTestApp({ clock: () => now });
    const member = await t.token('acme', 'alice', { plan: 'free' });
    const admin = await t.token('ops', 'olivia', { role: 'admin' });
    await t.app.entitle.operations.setOverride(
      { tenantId: 'acme', feature: 'can_use_webhooks', value: true, reason: 'pilot' },
      { actor: 'test:ops' },
    );
    const asAdmin = await expectExact(admin, { tenantId: 'acme', targetingKey: 'alice' });
    const asMember = await expectExact(member);
    const webhooks = (answer: { flags: Flag[] }) => answer.flags.find((flag) => flag.key === 'can_use_webhooks');
    expect(webhooks(asAdmin)).toMatchObject({ metadata: expect.objectContaining({ overrideReason: 'pilot' }) });
    expect(webhooks(asMember)).toMatchObject({ value: true });
    expect(webhooks(asMember)?.metadata).not.toHaveProperty('overrideReason');
  });
});
