import { describe, expect, it } from 'vitest';
import { formatIssue, readPolicyTexts } from '../../src/policy/read-policy.js';
import { snapshotOf } from '../support/policy.js';

function issuesOf(files: Record<string, string>): string[] {
  return readPolicyTexts(Object.entries(files).map(([file, text]) => ({ file, text }))).issues.map(formatIssue);
}

const PLANS = `plans:
  free: {}
  pro:
    billing:
      stripe:
        prices: [pro_monthly, pro_yearly]
  business:
    billing:
      stripe:
        prices: [business_monthly]
`;

describe('billing in the policy', () => {
  it('compiles prices to plans, with the fallback plan and grace period', () => {
    const snapshot = snapshotOf(`${PLANS}billing:\n  fallbackPlan: free\n  gracePeriodDays: 3\n`);
    expect(snapshot.billing?.fallbackPlan).toBe('free');
    expect(snapshot.billing?.gracePeriodDays).toBe(3);
    expect([...(snapshot.billing?.prices.get('stripe') ?? [])]).toEqual([
      ['pro_monthly', 'pro'],
      ['pro_yearly', 'pro'],
      ['business_monthly', 'business'],
    ]);
  });

  it('defaults the grace period to 7 days', () => {
    expect(snapshotOf(`${PLANS}billing:\n  fallbackPlan: free\n`).billing?.gracePeriodDays).toBe(7);
  });

  it('reports a price mapped to two plans at the second mapping, naming the first', () => {
    const plans = PLANS.replace('prices: [business_monthly]', 'prices: [business_monthly, pro_yearly]');
    expect(issuesOf({ 'plans.yaml': `${plans}billing:\n  fallbackPlan: free\n` })).toEqual([
      'plans.yaml:10:36: plans.business.billing.stripe.prices: price "pro_yearly" already maps to plan "pro" at plans.yaml:6:31; a price maps to one plan only',
    ]);
  });

  it('reports an unknown fallback plan with a hint', () => {
    expect(issuesOf({ 'plans.yaml': `${PLANS}billing:\n  fallbackPlan: fre\n` })).toEqual([
      'plans.yaml:12:17: billing.fallbackPlan: unknown plan "fre" (did you mean "free"?)',
    ]);
  });

  it('requires a billing section when plans map prices', () => {
    expect(issuesOf({ 'plans.yaml': PLANS })).toEqual([
      'plans.yaml:4:5: plans.pro.billing: plans map billing prices, so the policy needs a top-level "billing: { fallbackPlan: … }" for tenants whose subscription ended',
    ]);
  });

  it('reports schema problems of the billing settings with their positions', () => {
    expect(
      issuesOf({ 'plans.yaml': `${PLANS}billing:\n  fallbackPlan: free\n  gracePeriodDays: -1\n  grace: 2\n` }),
    ).toEqual([
      'plans.yaml:13:20: billing.gracePeriodDays: must be >= 0',
      'plans.yaml:14:3: billing: unknown property "grace"',
    ]);
  });

  it('reports a second billing section in another file', () => {
    expect(
      issuesOf({ 'a.yaml': `${PLANS}billing:\n  fallbackPlan: free\n`, 'b.yaml': 'billing:\n  fallbackPlan: pro\n' }),
    ).toEqual(['b.yaml:1:1: billing: the billing section is already defined at a.yaml:11:1']);
  });
});
