// Add-ons: held with a quantity beside the plan, numbers and allowances add per unit, booleans
// grant (cause GRANTED_BY_ADDON), unlimited stays unlimited, and a plan that may not hold one is refused.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';
import { copyPolicyDir } from '../support/policy.js';

const ADDONS = `addons:
  extra_calendars:
    name: Extra calendars
    availableOn: [pro, business]
    features: { max_connected_calendars: 5 }
  sms_pack:
    features: { sms_reminders_per_month: 1000 }
  webhooks:
    availableOn: [pro]
    features: { can_use_webhooks: true }
`;

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function start() {
  const dir = copyPolicyDir();
  writeFileSync(join(dir, 'addons.yaml'), ADDONS);
  t = await buildTestApp({ env: { ENTITLE_POLICIES: dir } });
  const app = t;
  const admin = await app.token('ops', 'olga', { role: 'admin' });
  const inject = (method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, payload?: object) =>
    app.app.inject({ method, url, headers: app.auth(admin), ...(payload ? { payload } : {}) });
  const explained = async (tenant: string, feature: string) => {
    const body = (await inject('GET', `/api/admin/tenants/${tenant}/entitlements`)).json<{
      features: { feature: string }[];
    }>();
    return body.features.find((f) => f.feature === feature) as Record<string, unknown>;
  };
  return { app, inject, explained };
}

describe('add-ons', () => {
  it('add per unit of quantity to a number: quantity 2 of +5 calendars gives a pro tenant 12, and removing takes it away', async () => {
    const { app, inject, explained } = await start();
    await app.token('acme', 'alice', { plan: 'pro' });
    const set = await inject('PUT', '/api/admin/tenants/acme/addons/extra_calendars', { quantity: 2 });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ before: null, after: { addon: 'extra_calendars', quantity: 2 } });
    expect(await explained('acme', 'max_connected_calendars')).toMatchObject({
      value: 12,
      granted: true,
      source: 'addon',
      cause: 'GRANTED_BY_ADDON',
      plan: 'pro',
      planVersion: 1,
      addons: ['extra_calendars'],
    });
    expect((await inject('GET', '/api/admin/tenants/acme')).json().addons).toEqual([
      { addon: 'extra_calendars', quantity: 2, source: 'operator' },
    ]);
    const ofrep = await app.app.inject({
      method: 'POST',
      url: '/ofrep/v1/evaluate/flags/max_connected_calendars',
      headers: app.auth(await app.token('acme', 'bob')),
      payload: { context: {} },
    });
    expect(ofrep.json()).toMatchObject({
      value: 12,
      metadata: { cause: 'GRANTED_BY_ADDON', addons: 'extra_calendars' },
    });

    expect((await inject('DELETE', '/api/admin/tenants/acme/addons/extra_calendars')).statusCode).toBe(200);
    expect(await explained('acme', 'max_connected_calendars')).toMatchObject({ value: 2, cause: 'IN_PLAN' });
    const audit = (await app.app.entitle.store.audit.list({ tenantId: 'acme' })).items.map((row) => row.action);
    expect(audit).toEqual(expect.arrayContaining(['tenant.addon.set', 'tenant.addon.remove']));
  });

  it('grant a boolean, add to a meter allowance, and leave unlimited unlimited', async () => {
    const { app, inject, explained } = await start();
    await app.token('acme', 'alice', { plan: 'pro' });
    await app.token('big', 'bea', { plan: 'enterprise' });
    await inject('PUT', '/api/admin/tenants/acme/addons/webhooks', { quantity: 1 });
    await inject('PUT', '/api/admin/tenants/acme/addons/sms_pack', { quantity: 3 });
    await inject('PUT', '/api/admin/tenants/big/addons/sms_pack', { quantity: 3 });
    expect(await explained('acme', 'can_use_webhooks')).toMatchObject({ value: true, cause: 'GRANTED_BY_ADDON' });
    expect(await explained('acme', 'sms_reminders_per_month')).toMatchObject({
      value: 3500,
      cause: 'GRANTED_BY_ADDON',
    });
    expect(await explained('big', 'sms_reminders_per_month')).toMatchObject({ value: 'unlimited', cause: 'IN_PLAN' });
  });

  it('refuse an add-on the plan may not hold, an unknown add-on and a bad quantity, changing nothing', async () => {
    const { app, inject } = await start();
    await app.token('freeco', 'fay', { plan: 'free' });
    const refused = await inject('PUT', '/api/admin/tenants/freeco/addons/extra_calendars', { quantity: 1 });
    expect([refused.statusCode, refused.json()]).toEqual([
      409,
      { code: 'ENT_ERR_ADDON_NOT_AVAILABLE', error: 'addon: "extra_calendars" is not available on plan "free"' },
    ]);
    expect((await inject('PUT', '/api/admin/tenants/freeco/addons/gold', { quantity: 1 })).statusCode).toBe(404);
    const zero = await inject('PUT', '/api/admin/tenants/freeco/addons/sms_pack', { quantity: 0 });
    expect([zero.statusCode, zero.json().error]).toEqual([400, expect.stringMatching(/quantity/)]);
    expect(await app.app.entitle.store.addons.list('freeco')).toEqual([]);
  });

  it('report add-on mistakes in the policy at their positions', async () => {
    const { readPolicyTexts, formatIssue } = await import('../../src/policy/read-policy.js');
    const { readFileSync } = await import('node:fs');
    const dir = copyPolicyDir();
    const texts = ['features.yaml', 'plans.yaml'].map((file) => ({
      file,
      text: readFileSync(join(dir, file), 'utf8'),
    }));
    const result = readPolicyTexts([
      ...texts,
      {
        file: 'addons.yaml',
        text: `addons:
  bad:
    availableOn: [platinum]
    features: { support_tier: email, can_use_sso: false, max_team_members: -1 }
`,
      },
    ]);
    expect(result.ok).toBe(false);
    expect(result.issues.filter((issue) => issue.file === 'addons.yaml').map(formatIssue)).toEqual([
      'addons.yaml:3:19: addons.bad.availableOn: unknown plan "platinum"',
      'addons.yaml:4:31: addons.bad.features.support_tier: an add-on cannot give a string feature (string values have no order to add to)',
      'addons.yaml:4:51: addons.bad.features.can_use_sso: must be true: an add-on grants a boolean feature (got boolean false)',
      'addons.yaml:4:76: addons.bad.features.max_team_members: must be a number above 0: it is added per unit of quantity (got number -1)',
    ]);
  });
});
