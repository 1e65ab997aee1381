// The Unleash client API: payload shape and caching, and the real unleash-client evaluating our
// decisions in-process, equal to the provider's for every tenant and boolean feature.

import { InMemStorageProvider, Unleash, UnleashEvents } from 'unleash-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_ADDONS, planProfile } from '../../src/entitlements/plan-profile.js';
import { buildUnleashPayload } from '../../src/interop/unleash-payload.js';
import { buildTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let now = Date.parse('2030-01-01T00:00:00Z');
let admin: string;
let sdkToken: string;
let baseUrl: string;
const TENANTS = [
  ['free-co', 'free'],
  ['pro-co', 'pro'],
  ['biz-co', 'business'],
  ['ent-co', 'enterprise'],
  ['odd-pro', 'pro'],
  ['odd-free', 'free'],
  ['trial-free', 'free'],
] as const;

beforeAll(async () => {
  t = await buildTestApp({ clock: () => now });
  admin = await t.token('ops', 'olivia', { role: 'admin' });
  sdkToken = await t.token('ops', 'sdk', { role: 'client' });
  const ctx = { actor: 'test:ops' };
  for (const [id, plan] of TENANTS) await t.app.entitle.operations.createTenant({ id, plan }, ctx);
  const ops = t.app.entitle.operations;
  await ops.setOverride({ tenantId: 'odd-pro', feature: 'can_use_sms_reminders', value: false, reason: 'abuse' }, ctx);
  await ops.setOverride({ tenantId: 'odd-pro', feature: 'can_use_webhooks', value: true, reason: 'pilot' }, ctx);
  await ops.setOverride(
    { tenantId: 'odd-free', feature: 'can_use_calendar_sync', value: true, reason: 'partner' },
    ctx,
  );
  await ops.setOverride(
    { tenantId: 'trial-free', feature: 'can_use_sso', value: true, reason: 'trial', expiresAt: '2030-01-01T00:00:10Z' },
    ctx,
  );
  baseUrl = await t.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => t.close());

const booleanFeatures = () =>
  [...t.app.entitle.policy.snapshot.features.values()].filter((f) => f.type === 'boolean').map((f) => f.key);

describe('GET /api/client/features', () => {
  it('serves boolean features as toggles with plan segments, an ETag and 304', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/client/features',
      headers: { authorization: admin },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.version).toBe(2);
    expect(body.features.map((f: { name: string }) => f.name)).toEqual(booleanFeatures());
    expect(body.segments.map((s: { name: string }) => s.name).sort()).toEqual([
      'entitle-plan-business',
      'entitle-plan-enterprise',
      'entitle-plan-free',
      'entitle-plan-pro',
    ]);
    const etag = response.headers.etag as string;
    const cached = await t.app.inject({
      method: 'GET',
      url: '/api/client/features',
      headers: { authorization: `Bearer ${admin}`, 'if-none-match': etag },
    });
    expect(cached.statusCode).toBe(304);
    for (const ifNoneMatch of [`W/${etag}`, `"stale", ${etag}`]) {
      expect(
        (
          await t.app.inject({
            method: 'GET',
            url: '/api/client/features',
            headers: { authorization: admin, 'if-none-match': ifNoneMatch },
          })
        ).statusCode,
      ).toBe(304);
    }
    expect(
      (
        await t.app.inject({
          method: 'GET',
          url: '/api/client/features',
          headers: { authorization: admin, 'if-none-match': '"stale"' },
        })
      ).statusCode,
    ).toBe(200);
  });

  it('is for admin and client tokens only: a member token is refused, naming the roles it needs', async () => {
    const client = await t.app.inject({
      method: 'GET',
      url: '/api/client/features',
      headers: { authorization: sdkToken },
    });
    expect(client.statusCode).toBe(200);
    const member = await t.token('pro-co', 'alice');
    const refused = await t.app.inject({
      method: 'GET',
      url: '/api/client/features',
      headers: { authorization: member },
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({
      code: 'ENT_ERR_ROLE_NOT_ALLOWED',
      error: 'A member token may not use this route (it needs admin or client)',
    });
    expect((await t.app.inject({ method: 'GET', url: '/api/client/features' })).statusCode).toBe(401);
  });

  it('accepts register and metrics posts, with an empty answer', async () => {
    for (const url of ['/api/client/register', '/api/client/metrics']) {
      for (const authorization of [admin, sdkToken]) {
        const response = await t.app.inject({
          method: 'POST',
          url,
          headers: { authorization },
          payload: {
            appName: 'x',
            instanceId: 'y',
            sdkVersion: 'unleash-client-node:6',
            started: '2030-01-01T00:00:00Z',
          },
        });
        expect({ url, status: response.statusCode, body: response.body }).toEqual({ url, status: 202, body: '' });
      }
    }
    const bad = await t.app.inject({
      method: 'POST',
      url: '/api/client/register',
      headers: { authorization: sdkToken },
      payload: { appName: 42 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/^body\.appName/);
  });

  it('stays small with many tenants: each tenant id appears once per plan segment', () => {
    const policy = t.app.entitle.policy.snapshot;
    const plans = [...policy.plans.keys()];
    const tenants = Array.from({ length: 10_000 }, (_, i) => ({
      id: `tenant-${String(i).padStart(5, '0')}`,
      name: 'x',
      plan: plans[i % plans.length] as string,
      planVersion: 1,
      addons: NO_ADDONS,
      profile: planProfile(plans[i % plans.length] as string, 1, NO_ADDONS),
      overrides: new Map(),
    }));
    const { payload } = buildUnleashPayload(policy, tenants, now);
    const bytes = Buffer.byteLength(JSON.stringify(payload));
    expect(bytes).toBeLessThan(1_000_000);
  });
});

describe('the real unleash-client', () => {
  it('agrees with the provider for every tenant and boolean feature, and follows an override after its refresh', async () => {
    const client = new Unleash({
      url: `${baseUrl}/api/`,
      appName: 'entitle-test',
      refreshInterval: 100,
      metricsInterval: 60_000,
      // An app's SDK holds a read-only client token, not an admin one.
      customHeaders: { Authorization: sdkToken },
      storageProvider: new InMemStorageProvider(),
      skipInstanceCountWarning: true,
    });
    client.on(UnleashEvents.Error, () => undefined);
    try {
      await new Promise<void>((resolve, reject) => {
        client.once(UnleashEvents.Synchronized, () => resolve());
        setTimeout(() => reject(new Error('unleash-client did not synchronize within 5 s')), 5_000).unref();
      });
      const check = async () => {
        let compared = 0;
        for (const tenantId of [...TENANTS.map(([id]) => id), 'nobody-knows-me']) {
          for (const feature of booleanFeatures()) {
            const ours = await t.app.entitle.client.getBooleanValue(feature, false, { tenantId });
            expect({ tenantId, feature, enabled: client.isEnabled(feature, { properties: { tenantId } }) }).toEqual({
              tenantId,
              feature,
              enabled: ours,
            });
            compared++;
          }
        }
        return compared;
      };
      expect(await check()).toBe(8 * booleanFeatures().length);
      expect(client.isEnabled('can_use_sso', { properties: { tenantId: 'trial-free' } })).toBe(true);

      const changed = new Promise<void>((resolve, reject) => {
        client.once(UnleashEvents.Changed, () => resolve());
        setTimeout(() => reject(new Error('no change within 5 s')), 5_000).unref();
      });
      await t.app.entitle.operations.setOverride(
        { tenantId: 'pro-co', feature: 'can_use_calendar_sync', value: false, reason: 'chargeback' },
        { actor: 'test' },
      );
      await changed;
      expect(client.isEnabled('can_use_calendar_sync', { properties: { tenantId: 'pro-co' } })).toBe(false);
      await check();

      // The trial override expires: the next payload (rebuilt at its expiry) drops it.
      const expired = new Promise<void>((resolve, reject) => {
        client.once(UnleashEvents.Changed, () => resolve());
        setTimeout(() => reject(new Error('no change within 5 s')), 5_000).unref();
      });
      now += 60_000;
      await expired;
      expect(client.isEnabled('can_use_sso', { properties: { tenantId: 'trial-free' } })).toBe(false);
      await check();
    } finally {
      client.destroy();
    }
  });
});
