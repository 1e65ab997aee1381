import { describe, expect, it } from 'vitest';
import { decide } from '../../src/entitlements/decide.js';
import { NO_ADDONS, planProfile } from '../../src/entitlements/plan-profile.js';
import { policyImpact } from '../../src/entitlements/policy-impact.js';
import { formatIssue, readPolicyDirectory, readPolicyTexts } from '../../src/policy/read-policy.js';
import { snapshotOf, STARTER_POLICY_DIR } from '../support/policy.js';

const METER = (allowances: Record<string, string>, extra = '') => `features:
  sms:
    name: SMS
    description: Reminders by text message.
    type: meter
    unit: SMS
    period: month
    default: 0
    upgradeMessage: Upgrade for more SMS.
${extra}plans:
${Object.entries(allowances)
  .map(([plan, value]) => `  ${plan}:\n    features:\n      sms: ${value}\n`)
  .join('')}`;

function issuesOf(text: string): string[] {
  return readPolicyTexts([{ file: 'p.yaml', text }]).issues.map(formatIssue);
}

describe('meter features in the policy', () => {
  it('ships sms_reminders_per_month: free 0, pro 500, business 5,000, enterprise unlimited', async () => {
    const result = await readPolicyDirectory(STARTER_POLICY_DIR);
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    const feature = result.snapshot.features.get('sms_reminders_per_month');
    expect(feature).toMatchObject({
      type: 'meter',
      meter: { unit: 'SMS', period: 'month', reset: 'calendar' },
      requiredPlan: 'pro',
    });
    const allowance = (plan: string) => result.snapshot.plans.get(plan)?.values.get('sms_reminders_per_month')?.value;
    expect(['free', 'pro', 'business', 'enterprise'].map(allowance)).toEqual([0, 500, 5000, 'unlimited']);
  });

  it('compiles unit, period and reset (calendar unless said otherwise)', () => {
    const snapshot = snapshotOf(METER({ free: '0', pro: '500' }));
    expect(snapshot.features.get('sms')?.meter).toEqual({ unit: 'SMS', period: 'month', reset: 'calendar' });
  });

  it('reports a meter without unit or period at the feature, with positions', () => {
    const text = `features:
  sms:
    name: SMS
    description: x
    type: meter
    default: 0
    upgradeMessage: more
`;
    expect(issuesOf(text)).toEqual([
      'p.yaml:2:3: features.sms: missing required property "unit"',
      'p.yaml:2:3: features.sms: missing required property "period"',
    ]);
  });

  it('rejects allowances that are not whole non-negative numbers or "unlimited", at their positions', () => {
    expect(issuesOf(METER({ free: '-1', pro: '2.5', business: 'lots', enterprise: 'unlimited' }))).toEqual([
      'p.yaml:13:12: plans.free.features.sms: must be a whole number from 0 to 1000000000000 or "unlimited", as the feature is a meter (got number -1)',
      'p.yaml:16:12: plans.pro.features.sms: must be a whole number from 0 to 1000000000000 or "unlimited", as the feature is a meter (got number 2.5)',
      'p.yaml:19:12: plans.business.features.sms: must be a whole number from 0 to 1000000000000 or "unlimited", as the feature is a meter (got string "lots")',
    ]);
  });

  it('rejects an unknown period and meter properties on other features', () => {
    const text = `features:
  sms:
    name: SMS
    description: x
    type: meter
    unit: SMS
    period: fortnight
    default: 0
    upgradeMessage: more
  sync:
    name: Sync
    description: x
    type: boolean
    default: false
    period: month
    upgradeMessage: more
`;
    expect(issuesOf(text)).toEqual([
      'p.yaml:7:13: features.sms.period: must be one of "hour", "day", "week", "month", "none"',
      'p.yaml:15:5: features.sync.period: only meter features have a period',
    ]);
  });

  it('decides a meter as its allowance: granted above 0 or unlimited, an override winning over the plan', () => {
    const snapshot = snapshotOf(METER({ free: '0', pro: '500', enterprise: 'unlimited' }));
    const tenant = (plan: string, override?: number | string) => ({
      id: 't',
      name: 'T',
      plan,
      planVersion: 1,
      addons: NO_ADDONS,
      profile: planProfile(plan, 1, NO_ADDONS),
      overrides: new Map(
        override === undefined
          ? []
          : [
              [
                'sms',
                {
                  tenantId: 't',
                  feature: 'sms',
                  value: override,
                  reason: 'deal',
                  actor: 'ops',
                  expiresAt: null,
                  expiresAtMs: null,
                  createdAt: '',
                  updatedAt: '',
                  version: 1,
                },
              ],
            ],
      ),
    });
    expect(decide(snapshot, tenant('free'), 'sms', 0)).toMatchObject({
      value: 0,
      granted: false,
      cause: 'NOT_IN_PLAN',
    });
    expect(decide(snapshot, tenant('pro'), 'sms', 0)).toMatchObject({ value: 500, granted: true, cause: 'IN_PLAN' });
    expect(decide(snapshot, tenant('enterprise'), 'sms', 0)).toMatchObject({ value: 'unlimited', granted: true });
    expect(decide(snapshot, tenant('free', 50), 'sms', 0)).toMatchObject({
      value: 50,
      granted: true,
      cause: 'GRANTED_BY_OVERRIDE',
    });
    // An override that no longer fits a meter (a boolean from an older policy) is ignored.
    expect(decide(snapshot, tenant('pro', 'yes'), 'sms', 0)).toMatchObject({ value: 500, source: 'plan' });
  });

  it('counts a lowered allowance as a revocation in the policy diff, unlimited above every number', () => {
    const current = snapshotOf(METER({ free: '0', pro: '500', enterprise: 'unlimited' }));
    const proposed = snapshotOf(METER({ free: '0', pro: '100', enterprise: '10000' }));
    const tenants = ['pro', 'enterprise', 'free'].map((plan) => ({
      id: plan,
      name: plan,
      plan,
      planVersion: 1,
      addons: NO_ADDONS,
      profile: planProfile(plan, 1, NO_ADDONS),
      overrides: new Map(),
    }));
    const impact = policyImpact(current, proposed, tenants, 0);
    expect(impact.revokes).toBe(true);
    expect(impact.features).toEqual([
      expect.objectContaining({
        feature: 'sms',
        revoked: 0,
        lowered: 2,
        granted: 0,
        changed: 0,
        summary: ['lowers sms for 1 tenant on plan pro', 'lowers sms for 1 tenant on plan enterprise'],
      }),
    ]);
    const raised = policyImpact(proposed, current, tenants, 0);
    expect(raised.revokes).toBe(false);
    expect(raised.features[0]).toMatchObject({ lowered: 0, changed: 2 });
  });
});
