// OFREP: the protocol shapes, and the real @openfeature/ofrep-provider against our running server
// agreeing with the in-process provider on every feature for tenants on every plan.

import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature, TypeMismatchError, type Client } from '@openfeature/server-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let now = Date.parse('2030-01-01T00:00:00Z');
const tokens: Record<string, string> = {};
let baseUrl: string;

beforeAll(async () => {
  t = await buildTestApp({ clock: () => now });
  for (const [tenant, plan] of [
    ['free-co', 'free'],
    ['pro-co', 'pro'],
    ['biz-co', 'business'],
    ['ent-co', 'enterprise'],
    ['odd-co', 'pro'],
  ] as const) {
    tokens[tenant] = await t.token(tenant, 'alice', { plan });
  }
  tokens.admin = await t.token('ops', 'olivia', { role: 'admin' });
  tokens.client = await t.token('ops', 'sdk', { role: 'client' });
  const ops = t.app.entitle.operations;
  const ctx = { actor: 'test:ops' };
  await ops.setOverride({ tenantId: 'odd-co', feature: 'can_use_webhooks', value: true, reason: 'pilot' }, ctx);
  await ops.setOverride({ tenantId: 'odd-co', feature: 'can_use_sms_reminders', value: false, reason: 'abuse' }, ctx);
  await ops.setOverride({ tenantId: 'odd-co', feature: 'max_connected_calendars', value: 9, reason: 'big team' }, ctx);
  await ops.setOverride({ tenantId: 'odd-co', feature: 'support_tier', value: 'dedicated', reason: 'vip' }, ctx);
  await ops.setOverride(
    {
      tenantId: 'free-co',
      feature: 'can_use_calendar_sync',
      value: true,
      reason: 'trial',
      expiresAt: '2030-01-01T00:00:01Z',
    },
    ctx,
  );
  now += 5_000; // the trial above has expired
  baseUrl = await t.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await OpenFeature.clearProviders();
  await t.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Metadata without the operators' notes on an override, which only admin callers see. */
function tenantVisible(metadata: Record<string, unknown>): Record<string, unknown> {
  const { overrideReason: _reason, overrideActor: _actor, ...rest } = metadata;
  return rest;
}

const post = (url: string, token: string | undefined, payload: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'POST',
    url,
    payload: payload as object,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });

describe('OFREP protocol', () => {
  it('evaluates one feature with value, reason, variant and metadata', async () => {
    const response = await post('/ofrep/v1/evaluate/flags/can_use_calendar_sync', tokens['pro-co'], { context: {} });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      key: 'can_use_calendar_sync',
      value: true,
      reason: 'TARGETING_MATCH',
      variant: 'plan:pro',
      metadata: { cause: 'IN_PLAN', plan: 'pro' },
    });
  });

  it('answers errors in the protocol shape', async () => {
    const unknown = await post('/ofrep/v1/evaluate/flags/can_fly', tokens['pro-co'], { context: {} });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ key: 'can_fly', errorCode: 'FLAG_NOT_FOUND' });
    const badContext = await post('/ofrep/v1/evaluate/flags/can_use_webhooks', tokens['pro-co'], { context: 'nope' });
    expect(badContext.statusCode).toBe(400);
    expect(badContext.json()).toMatchObject({ key: 'can_use_webhooks', errorCode: 'INVALID_CONTEXT' });
    const badJson = await post('/ofrep/v1/evaluate/flags/can_use_webhooks', tokens['pro-co'], '{"context":', {
      'content-type': 'application/json',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json()).toMatchObject({ errorCode: 'PARSE_ERROR' });
    const badTenant = await post('/ofrep/v1/evaluate/flags/can_use_webhooks', tokens['pro-co'], {
      context: { tenantId: 7 },
    });
    expect(badTenant.statusCode).toBe(400);
    expect(badTenant.json()).toEqual({
      key: 'can_use_webhooks',
      errorCode: 'INVALID_CONTEXT',
      errorDetails: expect.stringContaining('context.tenantId'),
    });
    const notAnObject = await post('/ofrep/v1/evaluate/flags', tokens['pro-co'], [1, 2]);
    expect(notAnObject.statusCode).toBe(400);
    expect(notAnObject.json()).toEqual({ errorCode: 'PARSE_ERROR', errorDetails: expect.any(String) });
    expect((await post('/ofrep/v1/evaluate/flags/can_use_webhooks', undefined, { context: {} })).statusCode).toBe(401);
  });

  it("shows operators' notes on an override to admin callers only", async () => {
    const url = '/ofrep/v1/evaluate/flags/support_tier';
    const own = (await post(url, tokens['odd-co'], { context: {} })).json();
    expect(own).toEqual({
      key: 'support_tier',
      value: 'dedicated',
      reason: 'TARGETING_MATCH',
      variant: 'override',
      metadata: {
        source: 'override',
        cause: 'GRANTED_BY_OVERRIDE',
        policyVersion: t.app.entitle.policy.snapshot.version,
        plan: 'pro',
        planVersion: 1,
      },
    });
    const asClient = (await post(url, tokens.client, { context: { tenantId: 'odd-co' } })).json();
    expect(asClient.metadata).toEqual(own.metadata);
    const asAdmin = (await post(url, tokens.admin, { context: { tenantId: 'odd-co' } })).json();
    expect(asAdmin.metadata).toEqual({ ...own.metadata, overrideReason: 'vip', overrideActor: 'test:ops' });
    const bulk = (await post('/ofrep/v1/evaluate/flags', tokens['odd-co'], { context: {} })).json();
    expect(JSON.stringify(bulk)).not.toMatch(/overrideReason|overrideActor|big team|abuse/);
  });

  it('answers server-side failures as OFREP errors with the protocol codes only', async () => {
    const provider = t.app.entitle.provider;
    vi.spyOn(provider, 'resolveBooleanEvaluation').mockRejectedValueOnce(
      new TypeMismatchError('feature "can_use_webhooks" is a boolean, not a number'),
    );
    const mismatch = await post('/ofrep/v1/evaluate/flags/can_use_webhooks', tokens['pro-co'], { context: {} });
    expect(mismatch.statusCode).toBe(500);
    expect(mismatch.json()).toEqual({
      key: 'can_use_webhooks',
      errorCode: 'GENERAL',
      errorDetails: 'feature "can_use_webhooks" is a boolean, not a number',
    });

    vi.spyOn(provider, 'resolveBooleanEvaluation').mockRejectedValueOnce(
      new Error('SQLITE_CORRUPT at /var/lib/entitle'),
    );
    const internal = await post('/ofrep/v1/evaluate/flags/can_use_webhooks', tokens['pro-co'], { context: {} });
    expect(internal.statusCode).toBe(500);
    expect(internal.json()).toEqual({
      key: 'can_use_webhooks',
      errorCode: 'GENERAL',
      errorDetails: 'evaluation failed',
    });

    vi.spyOn(t.app.entitle.policy, 'snapshot', 'get').mockImplementationOnce(() => {
      throw new Error('disk on fire');
    });
    const crashed = await post('/ofrep/v1/evaluate/flags/can_use_webhooks', tokens['pro-co'], { context: {} });
    expect(crashed.statusCode).toBe(500);
    expect(crashed.json()).toEqual({ key: 'can_use_webhooks', errorCode: 'GENERAL', errorDetails: 'Internal error' });
  });

  it('a client token evaluates for any tenant, and defaults to its own', async () => {
    const other = await post('/ofrep/v1/evaluate/flags/can_use_webhooks', tokens.client, {
      context: { tenantId: 'biz-co' },
    });
    expect(other.json()).toMatchObject({ value: true, metadata: { plan: 'business' } });
    const own = await post('/ofrep/v1/evaluate/flags/can_use_webhooks', tokens.client, { context: {} });
    expect(own.json()).toMatchObject({ value: false, metadata: { cause: 'NOT_IN_PLAN', plan: 'free' } });
  });

  it('a tenant token cannot evaluate for another tenant; an admin token can', async () => {
    const other = await post('/ofrep/v1/evaluate/flags/can_use_webhooks', tokens['free-co'], {
      context: { tenantId: 'biz-co' },
    });
    expect(other.statusCode).toBe(403);
    const admin = await post('/ofrep/v1/evaluate/flags/can_use_webhooks', tokens.admin, {
      context: { tenantId: 'biz-co' },
    });
    expect(admin.json()).toMatchObject({ value: true, metadata: { plan: 'business' } });
  });

  it('bulk evaluation returns every feature with an ETag, 304 while nothing changed, and a new ETag after a write', async () => {
    const first = await post('/ofrep/v1/evaluate/flags', tokens['pro-co'], { context: {} });
    expect(first.statusCode).toBe(200);
    const body = first.json();
    expect(body.flags.map((f: { key: string }) => f.key)).toEqual([...t.app.entitle.policy.snapshot.features.keys()]);
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^".+"$/);
    const again = await post('/ofrep/v1/evaluate/flags', tokens['pro-co'], { context: {} }, { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    // If-None-Match compares weakly and may list several tags.
    expect(
      (await post('/ofrep/v1/evaluate/flags', tokens['pro-co'], { context: {} }, { 'if-none-match': `W/${etag}` }))
        .statusCode,
    ).toBe(304);
    expect(
      (
        await post(
          '/ofrep/v1/evaluate/flags',
          tokens['pro-co'],
          { context: {} },
          { 'if-none-match': `"older", ${etag}` },
        )
      ).statusCode,
    ).toBe(304);
    expect(
      (await post('/ofrep/v1/evaluate/flags', tokens['pro-co'], { context: {} }, { 'if-none-match': '*' })).statusCode,
    ).toBe(304);
    expect(
      (
        await post(
          '/ofrep/v1/evaluate/flags',
          tokens['pro-co'],
          { context: {} },
          { 'if-none-match': '"older", W/"other"' },
        )
      ).statusCode,
    ).toBe(200);
    await t.app.entitle.operations.setOverride(
      { tenantId: 'pro-co', feature: 'can_use_webhooks', value: true, reason: 'x' },
      { actor: 'test' },
    );
    const after = await post('/ofrep/v1/evaluate/flags', tokens['pro-co'], { context: {} }, { 'if-none-match': etag });
    expect(after.statusCode).toBe(200);
    expect(after.headers.etag).not.toBe(etag);
    expect(after.json().flags.find((f: { key: string }) => f.key === 'can_use_webhooks').value).toBe(true);
    await t.app.entitle.operations.clearOverride('pro-co', 'can_use_webhooks', { actor: 'test' });
  });
});

describe('the real OFREP provider', () => {
  it('agrees with the in-process provider on every feature for every tenant', async () => {
    const local = t.app.entitle.client;
    let compared = 0;
    for (const tenant of ['free-co', 'pro-co', 'biz-co', 'ent-co', 'odd-co']) {
      const domain = `ofrep-${tenant}`;
      await OpenFeature.setProviderAndWait(
        domain,
        new OFREPProvider({ baseUrl, headers: { authorization: `Bearer ${tokens[tenant]}` } }),
      );
      const remote: Client = OpenFeature.getClient(domain);
      const context = { tenantId: tenant, targetingKey: 'alice' };
      for (const feature of t.app.entitle.policy.snapshot.features.values()) {
        const [mine, theirs] =
          feature.type === 'boolean'
            ? [
                await local.getBooleanDetails(feature.key, false, context),
                await remote.getBooleanDetails(feature.key, false, context),
              ]
            : feature.type === 'number'
              ? [
                  await local.getNumberDetails(feature.key, -1, context),
                  await remote.getNumberDetails(feature.key, -1, context),
                ]
              : [
                  await local.getStringDetails(feature.key, '?', context),
                  await remote.getStringDetails(feature.key, '?', context),
                ];
        expect({
          tenant,
          key: feature.key,
          value: theirs.value,
          reason: theirs.reason,
          variant: theirs.variant,
          errorCode: theirs.errorCode,
        }).toEqual({
          tenant,
          key: feature.key,
          value: mine.value,
          reason: mine.reason,
          variant: mine.variant,
          errorCode: mine.errorCode,
        });
        expect(theirs.flagMetadata).toEqual(tenantVisible(mine.flagMetadata));
        compared++;
      }
    }
    expect(compared).toBe(5 * t.app.entitle.policy.snapshot.features.size);
  });

  it('reports an unknown feature as FLAG_NOT_FOUND with the default value', async () => {
    await OpenFeature.setProviderAndWait(
      'ofrep-unknown',
      new OFREPProvider({ baseUrl, headers: { authorization: `Bearer ${tokens['pro-co']}` } }),
    );
    const details = await OpenFeature.getClient('ofrep-unknown').getBooleanDetails('can_fly', false, {
      tenantId: 'pro-co',
    });
    expect(details).toMatchObject({ value: false, errorCode: 'FLAG_NOT_FOUND' });
  });
});
