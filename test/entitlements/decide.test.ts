// The provider's hot path reads a resolution straight from a profile's slots, without the
// decision; `decide` reads the decision. Both fill the same slots lazily, whichever asks first:
// they must answer the same shared objects for every kind of tenant, in either order.

import { describe, expect, it } from 'vitest';
import { decideNow, featureDecisions, type TenantState } from '../../src/entitlements/decide.js';
import { tenantState } from '../../src/entitlements/tenant-state.js';
import type { SubscriptionState } from '../../src/store/subscription-state.js';
import type { TenantSnapshot } from '../../src/store/store.js';
import { snapshotOf } from '../support/policy.js';

const POLICY = `
features:
  can_export: { name: Export, description: '', type: boolean, default: false, upgradeMessage: Upgrade }
  max_calendars: { name: Calendars, description: '', type: number, default: 1, upgradeMessage: Upgrade }
  support_tier:
    { name: Support, description: '', type: string, default: none, values: [none, email, phone], upgradeMessage: Upgrade }
plans:
  free: {}
  pro:
    extends: free
    version: 2
    features: { max_calendars: 3, support_tier: email }
    versions:
      1:
        features: { can_export: true, max_calendars: 2, support_tier: email }
  business:
    extends: pro
    billing: { stripe: { prices: [business_monthly] } }
    features: { support_tier: phone }
addons:
  extra_calendars:
    availableOn: [pro, business]
    features: { max_calendars: 5 }
  exports:
    features: { can_export: true }
billing:
  fallbackPlan: free
`;

const NOW = Date.parse('2026-12-01T00:00:00Z');
const AT = '2026-11-01T00:00:00.000Z';

function tenant(
  id: string,
  plan: string,
  planVersion: number,
  extra: Partial<Omit<TenantSnapshot, 'tenant'>> = {},
): TenantState {
  const addons = (extra.addons ?? []).map((held) => ({ ...held, tenantId: id }));
  return tenantState({
    tenant: { id, name: id, plan, planVersion, createdAt: AT, updatedAt: AT },
    overrides: [],
    ...extra,
    addons,
  });
}

const held = (addon: string, quantity: number) => ({ tenantId: '', addon, quantity, createdAt: AT, updatedAt: AT });
const override = (feature: string, value: boolean | number | string, expiresAt: string | null) => ({
  tenantId: 'overridden',
  feature,
  value,
  reason: 'test',
  actor: 'test',
  expiresAt,
  createdAt: AT,
  updatedAt: AT,
  version: 1,
});
const subscription: SubscriptionState = {
  provider: 'stripe',
  id: 'sub_1',
  customerId: 'cus_1',
  status: 'active',
  prices: ['business_monthly'],
  currentPeriodEnd: '2026-12-31T00:00:00.000Z',
  cancelAtPeriodEnd: false,
  cancelAt: null,
  trialEnd: null,
  pastDueSince: null,
  cycleAnchor: AT,
  observedAt: AT,
};

const tenants: Record<string, TenantState | undefined> = {
  unknown: undefined,
  free: tenant('free', 'free', 1),
  proV1: tenant('pro-v1', 'pro', 1),
  proV2: tenant('pro-v2', 'pro', 2),
  proV2Calendars: tenant('pro-v2-calendars', 'pro', 2, { addons: [held('extra_calendars', 2)] }),
  proV1Both: tenant('pro-v1-both', 'pro', 1, { addons: [held('extra_calendars', 1), held('exports', 1)] }),
  freeCalendars: tenant('free-calendars', 'free', 1, { addons: [held('extra_calendars', 3)] }),
  overridden: tenant('overridden', 'pro', 2, {
    overrides: [override('can_export', true, null), override('max_calendars', 9, '2026-11-15T00:00:00.000Z')],
  }),
  billed: tenant('billed', 'free', 1, { billing: { link: undefined, subscriptions: [subscription] } }),
};

const FEATURES = ['can_export', 'max_calendars', 'support_tier'];
const clock = () => NOW;

describe('featureDecisions(…).resolve', () => {
  for (const order of ['resolve first', 'decide first'] as const) {
    it(`answers decide(…).resolution, the same object, for every kind of tenant (${order})`, () => {
      const snapshot = snapshotOf(POLICY); // a snapshot of its own: its slots start empty
      for (const [name, state] of Object.entries(tenants)) {
        for (const key of FEATURES) {
          const decisions = featureDecisions(snapshot, key);
          if (!decisions) throw new Error(`no decisions for ${key}`);
          const resolved = order === 'resolve first' ? decisions.resolve(state, clock) : undefined;
          const decision = decideNow(snapshot, state, key, clock);
          const again = decisions.resolve(state, clock);
          expect(again, `${name} ${key}`).toBe(decision?.resolution);
          if (resolved) expect(resolved, `${name} ${key}`).toBe(again);
        }
      }
      expect(featureDecisions(snapshot, 'no_such_feature')).toBeUndefined();
    });
  }

  it('answers what the plan version, add-ons, overrides and billing give', () => {
    const snapshot = snapshotOf(POLICY);
    const value = (name: string, key: string) => featureDecisions(snapshot, key)?.resolve(tenants[name], clock);
    expect(value('unknown', 'max_calendars')).toMatchObject({ value: 1, reason: 'DEFAULT' });
    expect(value('proV1', 'can_export')).toMatchObject({ value: true, flagMetadata: { planVersion: 1 } });
    expect(value('proV2', 'can_export')).toMatchObject({ value: false, flagMetadata: { planVersion: 2 } });
    expect(value('proV2Calendars', 'max_calendars')).toMatchObject({
      value: 13,
      flagMetadata: { cause: 'GRANTED_BY_ADDON', addons: 'extra_calendars' },
    });
    // An add-on that does not touch a feature leaves the plan version's own decision.
    expect(value('proV2Calendars', 'support_tier')).toBe(value('proV2', 'support_tier'));
    expect(value('proV1Both', 'max_calendars')).toMatchObject({ value: 7 });
    expect(value('proV1Both', 'can_export')).toMatchObject({ value: true });
    // Not available on free: ignored.
    expect(value('freeCalendars', 'max_calendars')).toMatchObject({ value: 1, flagMetadata: { source: 'default' } });
    expect(value('overridden', 'can_export')).toMatchObject({ value: true, variant: 'override' });
    // Expired: the plan decides.
    expect(value('overridden', 'max_calendars')).toMatchObject({ value: 3, variant: 'plan:pro' });
    expect(value('billed', 'support_tier')).toMatchObject({
      value: 'phone',
      flagMetadata: { plan: 'business', billing: 'ACTIVE' },
    });
  });
});
