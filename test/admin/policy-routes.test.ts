// The policy over the admin API: what is in force, and a dry run of a proposal with its impact.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { policyImpact } from '../../src/entitlements/policy-impact.js';
import { tenantState } from '../../src/entitlements/tenant-state.js';
import { readPolicyTexts } from '../../src/policy/read-policy.js';
import { useAdminApp } from './admin-app.js';

const h = useAdminApp();
const inject = h.inject;

describe('policy', () => {
  it('shows the policy in force, every field of every feature and plan', async () => {
    const body = (await inject('GET', '/api/admin/policy')).json();
    const { policy } = h.t.app.entitle;
    const { snapshot } = policy;
    expect(body).toEqual({
      directory: policy.status.directory,
      files: ['features.yaml', 'plans.yaml'],
      version: snapshot.version,
      loadedAt: policy.status.loadedAt,
      lastError: null,
      // The response schema must drop nothing: the JSON of the snapshot itself.
      features: JSON.parse(JSON.stringify([...snapshot.features.values()])),
      plans: [...snapshot.plans.values()].map((plan) =>
        JSON.parse(
          JSON.stringify({ ...plan, values: Object.fromEntries(plan.values), versions: [...plan.versions.keys()] }),
        ),
      ),
      // The starter policy sells no add-on.
      addons: [],
    });
    expect(body.features.find((f: { key: string }) => f.key === 'support_tier')).toMatchObject({
      values: ['community', 'email', 'priority', 'dedicated'],
      requiredPlan: 'free',
    });
    expect(body.plans.find((p: { key: string }) => p.key === 'pro')).toMatchObject({
      extends: 'free',
      chain: ['pro', 'free'],
      values: { max_connected_calendars: { value: 2, definedBy: 'pro' } },
    });
  });

  it('validates a YAML body without applying it, with positions', async () => {
    const broken = 'plans:\n  pro:\n    extends: gold\n    features:\n      can_use_webhooks: "yes"\n';
    const response = await h.t.app.inject({
      method: 'POST',
      url: '/api/admin/policy/validate?file=plans.yaml',
      payload: broken,
      headers: { ...h.admin, 'content-type': 'application/yaml' },
    });
    expect(response.statusCode).toBe(422);
    const texts = response.json().issues.map((issue: { text: string }) => issue.text);
    expect(texts).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^plans\.yaml:3:\d+: .*gold/),
        expect.stringMatching(/^plans\.yaml:5:\d+: /),
      ]),
    );
    const before = (await inject('GET', '/api/admin/policy')).json().version;
    expect(before).toBe(h.t.app.entitle.policy.snapshot.version);
  });

  it('reports the impact of a valid proposal on real tenants', async () => {
    for (let i = 0; i < 3; i++) await inject('POST', '/api/admin/tenants', { id: `p${i}`, plan: 'pro' });
    await inject('PUT', '/api/admin/tenants/p0/overrides/can_use_sms_reminders', { value: true, reason: 'keeps it' });
    const plans = await readFile(join(h.t.app.entitle.config.policyDirectory, 'plans.yaml'), 'utf8');
    // Pro loses SMS reminders and gets one more calendar.
    const proposed = plans
      .replace('      can_use_sms_reminders: true\n', '')
      .replace('      max_connected_calendars: 2\n', '      max_connected_calendars: 3\n');
    expect(proposed).not.toBe(plans);
    const response = await h.t.app.inject({
      method: 'POST',
      url: '/api/admin/policy/validate?file=plans.yaml',
      payload: proposed,
      headers: { ...h.admin, 'content-type': 'application/yaml' },
    });
    expect(response.statusCode, response.body).toBe(200);
    const { impact } = response.json();
    expect(impact.revokes).toBe(true);
    const sms = impact.features.find((f: { feature: string }) => f.feature === 'can_use_sms_reminders');
    expect(sms).toMatchObject({ revoked: 2, byPlan: { pro: { revoked: 2 } } });
    expect(sms.summary).toContain('revokes can_use_sms_reminders from 2 tenants on plan pro');
    const calendars = impact.features.find((f: { feature: string }) => f.feature === 'max_connected_calendars');
    expect(calendars).toMatchObject({ changed: 3, lowered: 0, revoked: 0 });
    // Nothing of the impact is lost on the way out.
    const expected = readPolicyTexts([
      ...(await Promise.all(
        ['features.yaml'].map(async (file) => ({
          file,
          text: await readFile(join(h.t.app.entitle.config.policyDirectory, file), 'utf8'),
        })),
      )),
      { file: 'plans.yaml', text: proposed },
    ]);
    if (!expected.ok) throw new Error('the proposal should be valid');
    expect(impact).toEqual(
      JSON.parse(
        JSON.stringify(
          policyImpact(
            h.t.app.entitle.policy.snapshot,
            expected.snapshot,
            (await h.t.app.entitle.store.changes.loadAll()).tenants.map(tenantState),
            h.now,
          ),
        ),
      ),
    );
  });

  it('counts a lower limit as a revocation: business calendars 6 → 1', async () => {
    for (const id of ['b1', 'b2']) await inject('POST', '/api/admin/tenants', { id, plan: 'business' });
    const plans = await readFile(join(h.t.app.entitle.config.policyDirectory, 'plans.yaml'), 'utf8');
    const proposed = plans.replace('      max_connected_calendars: 6\n', '      max_connected_calendars: 1\n');
    expect(proposed).not.toBe(plans);
    const response = await h.t.app.inject({
      method: 'POST',
      url: '/api/admin/policy/validate?file=plans.yaml',
      payload: proposed,
      headers: { ...h.admin, 'content-type': 'text/yaml' },
    });
    const { impact } = response.json();
    expect(impact.revokes).toBe(true);
    expect(impact.features).toEqual([
      {
        feature: 'max_connected_calendars',
        revoked: 0,
        lowered: 2,
        granted: 0,
        changed: 0,
        byPlan: { business: { revoked: 0, lowered: 2, granted: 0, changed: 0 } },
        examples: [
          { tenant: 'b1', plan: 'business', before: 6, after: 1 },
          { tenant: 'b2', plan: 'business', before: 6, after: 1 },
        ],
        summary: ['lowers max_connected_calendars for 2 tenants on plan business'],
      },
    ]);
  });

  it('takes the whole policy as JSON files, and names a bad one', async () => {
    const dir = h.t.app.entitle.config.policyDirectory;
    const files = await Promise.all(
      ['features.yaml', 'plans.yaml'].map(async (name) => ({ name, text: await readFile(join(dir, name), 'utf8') })),
    );
    const same = await inject('POST', '/api/admin/policy/validate', { files });
    expect(same.json()).toMatchObject({
      valid: true,
      version: h.t.app.entitle.policy.snapshot.version,
      impact: { revokes: false, features: [] },
    });
    const badName = await inject('POST', '/api/admin/policy/validate', {
      files: [{ name: '../etc/passwd', text: 'x' }],
    });
    expect(badName.statusCode).toBe(400);
    expect(badName.json().error).toMatch(/^body\.files\[0\]\.name/);
    const noText = await inject('POST', '/api/admin/policy/validate', { files: [{ name: 'a.yaml' }] });
    expect(noText.statusCode).toBe(400);
    expect(noText.json().error).toMatch(/text/);
  });
});
