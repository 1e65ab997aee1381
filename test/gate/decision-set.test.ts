// Reads of every feature at once (GET /api/entitlements/) come from the tenant's decision set:
// never stale after a write or an expired override, and evaluated feature by feature, hooks
// and all, once an operator has registered an OpenFeature hook.

import type { Hook } from '@openfeature/server-sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

describe('the decision set behind request.entitlements.all()', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const webhooks = async (app: TestApp, token: string) =>
    (await app.app.inject({ method: 'GET', url: '/api/entitlements/', headers: app.auth(token) })).json().features
      .can_use_webhooks;

  it('is never stale after an override is written or cleared', async () => {
    t = await buildTestApp();
    const token = await t.token('acme', 'alice', { plan: 'free' });
    expect(await webhooks(t, token)).toMatchObject({ value: false, cause: 'NOT_IN_PLAN' });
    expect(await webhooks(t, token)).toMatchObject({ value: false, cause: 'NOT_IN_PLAN' });
    await t.app.entitle.operations.setOverride(
      { tenantId: 'acme', feature: 'can_use_webhooks', value: true, reason: 'pilot' },
      { actor: 'test' },
    );
    expect(await webhooks(t, token)).toMatchObject({ value: true, cause: 'GRANTED_BY_OVERRIDE' });
    await t.app.entitle.operations.clearOverride('acme', 'can_use_webhooks', { actor: 'test' });
    expect(await webhooks(t, token)).toMatchObject({ value: false, cause: 'NOT_IN_PLAN' });
  });

  it('is not used once the override behind it has expired', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    t = await buildTestApp({ clock: () => now });
    const token = await t.token('acme', 'alice', { plan: 'free' });
    await t.app.entitle.operations.setOverride(
      {
        tenantId: 'acme',
        feature: 'can_use_webhooks',
        value: true,
        reason: 'trial',
        expiresAt: '2030-01-01T01:00:00.000Z',
      },
      { actor: 'test' },
    );
    expect(await webhooks(t, token)).toMatchObject({ value: true });
    expect(await webhooks(t, token)).toMatchObject({ value: true });
    now = Date.parse('2030-01-01T01:00:01Z');
    expect(await webhooks(t, token)).toMatchObject({ value: false, cause: 'NOT_IN_PLAN' });
  });

  it('evaluates every feature through the client, hooks included, once a hook is registered', async () => {
    t = await buildTestApp();
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const features = t.app.entitle.policy.snapshot.features.size;
    await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) });
    const seen: string[] = [];
    const hook: Hook = { after: (context) => void seen.push(context.flagKey) };
    t.app.entitle.client.addHooks(hook);
    await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) });
    await t.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t.auth(token) });
    expect(seen).toHaveLength(2 * features);
  });

  it('keeps the set with a meter in the policy, and reads the meter afresh every time', async () => {
    t = await buildTestApp();
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const read = async () =>
      (await t!.app.inject({ method: 'GET', url: '/api/entitlements/', headers: t!.auth(token) })).json().features;
    const features = [...t.app.entitle.policy.snapshot.features.values()];
    const meters = features.filter((feature) => feature.type === 'meter').length;
    expect(meters).toBeGreaterThan(0);
    expect((await read()).sms_reminders_per_month).toMatchObject({ limit: 500, used: 0, remaining: 500 });

    const provider = t.app.entitle.provider;
    const booleans = vi.spyOn(provider, 'resolveBooleanEvaluation');
    const numbers = vi.spyOn(provider, 'resolveNumberEvaluation');
    await t.app.entitle.meters.consume({
      tenantId: 'acme',
      feature: 'sms_reminders_per_month',
      amount: 3,
      context: { actor: 'test' },
    });
    const second = await read();
    expect(second.sms_reminders_per_month).toMatchObject({ used: 3, remaining: 497 });
    expect(second.can_use_calendar_sync).toMatchObject({ value: true, cause: 'IN_PLAN' });
    // Only the meters were evaluated: everything else came from the set.
    expect(booleans).not.toHaveBeenCalled();
    expect(numbers).toHaveBeenCalledTimes(meters);
  });
});
