// entitlements.changed for plan-version migrations and add-on changes, as a receiver verifying
// with `standardwebhooks` sees them: each feature before → after, and the cause naming the write.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, NO_RATE_LIMITS, type TestApp } from '../support/app.js';
import { copyPolicyDir } from '../support/policy.js';
import { PRO_V2 } from '../support/pro-versions.js';
import { startReceiver, verified, type Receiver } from '../support/webhook-receiver.js';

const SHORT = { ENTITLE_WEBHOOKS_RETRY_SCHEDULE: '20ms,20ms', ENTITLE_WEBHOOKS_ALLOW_PRIVATE: 'true' };

const ADDONS = `addons:
  extra_calendars:
    availableOn: [pro, business]
    features: { max_connected_calendars: 5 }
`;

function policyDir(): string {
  const dir = copyPolicyDir();
  const path = join(dir, 'plans.yaml');
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('  pro:\n');
  const end = text.indexOf('  business:\n');
  writeFileSync(path, `${text.slice(0, start)}${PRO_V2}\n${text.slice(end)}`);
  writeFileSync(join(dir, 'addons.yaml'), ADDONS);
  return dir;
}

describe('entitlements.changed causes', () => {
  let t: TestApp | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await t?.close();
    await receiver?.close();
    t = receiver = undefined;
  });

  async function start() {
    t = await buildTestApp({ env: { ...NO_RATE_LIMITS, ...SHORT, ENTITLE_POLICIES: policyDir() } });
    receiver = await startReceiver();
    const app = t;
    const admin = app.auth(await app.token('ops', 'olivia', { role: 'admin' }));
    await app.token('acme', 'amy', { plan: 'pro' });
    const inject = (method: 'PUT' | 'POST' | 'DELETE', url: string, payload?: object) =>
      app.app.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });
    const registered = await inject('POST', '/api/admin/webhooks', {
      url: receiver.url,
      events: ['entitlements.changed'],
    });
    expect(registered.statusCode).toBe(201);
    receiver.secrets = [registered.json().secret];
    return { app, inject, receiver };
  }

  it('a migration that removes a feature sends it before → after, caused by plan.migrated', async () => {
    const { app, inject, receiver } = await start();
    await app.app.entitle.store.tenants.setPlan('acme', { plan: 'pro', planVersion: 1 }, { actor: 'test' });
    // Putting acme back on version 1 is itself a plan change: its own event first.
    const [placed] = await receiver.until((all) => all.length >= 1);
    expect(placed?.event?.data).toMatchObject({
      cause: { kind: 'plan.changed' },
      changes: expect.arrayContaining([{ feature: 'can_remove_branding', before: false, after: true }]),
    });

    const migrated = await inject('POST', '/api/admin/plans/pro/migrations', { from: 1, to: 2 });
    expect(migrated.json()).toMatchObject({ moved: 1 });
    const all = await receiver.until((deliveries) => deliveries.length >= 2);
    expect(all.every((delivery) => delivery.verifyError === undefined)).toBe(true);
    const event = verified(all)[1];
    expect(event?.data.tenantId).toBe('acme');
    expect(event?.data.cause).toEqual({
      kind: 'plan.migrated',
      actor: expect.stringContaining('olivia'),
      auditSeq: expect.any(Number),
    });
    const changes = event?.data.changes as unknown[];
    expect(changes).toHaveLength(2);
    expect(changes).toEqual(
      expect.arrayContaining([
        { feature: 'can_remove_branding', before: true, after: false },
        { feature: 'max_booking_pages', before: 10, after: 20 },
      ]),
    );
  });

  it('an add-on set with quantity 2 sends max_connected_calendars +10; removing it sends it back', async () => {
    const { inject, receiver } = await start();
    expect((await inject('PUT', '/api/admin/tenants/acme/addons/extra_calendars', { quantity: 2 })).statusCode).toBe(
      200,
    );
    const [delivery] = await receiver.until((all) => all.length >= 1);
    expect(delivery?.verifyError).toBeUndefined();
    expect(delivery?.event?.data).toEqual({
      tenantId: 'acme',
      sequence: 1,
      changes: [{ feature: 'max_connected_calendars', before: 2, after: 12 }],
      cause: {
        kind: 'addon.set',
        actor: expect.stringContaining('olivia'),
        addon: 'extra_calendars',
        auditSeq: expect.any(Number),
      },
    });

    // Quantity 2 → 3: the before state is the audited quantity, not "no add-on".
    await inject('PUT', '/api/admin/tenants/acme/addons/extra_calendars', { quantity: 3 });
    await inject('DELETE', '/api/admin/tenants/acme/addons/extra_calendars');
    const all = await receiver.until((deliveries) => deliveries.length >= 3);
    expect(all.every((each) => each.verifyError === undefined)).toBe(true);
    const [, raised, removed] = verified(all);
    expect(raised?.data).toMatchObject({
      changes: [{ feature: 'max_connected_calendars', before: 12, after: 17 }],
      cause: { kind: 'addon.set', addon: 'extra_calendars' },
    });
    expect(removed?.data).toMatchObject({
      changes: [{ feature: 'max_connected_calendars', before: 17, after: 2 }],
      cause: { kind: 'addon.removed', addon: 'extra_calendars' },
    });
  });
});
