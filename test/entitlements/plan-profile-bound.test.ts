// Profiles are interned and numbered up to a bound; past it a profile has no number and its
// decisions are kept by the object instead. Runs in a process of its own (vitest.config.ts):
// it fills the module's intern table.

import { describe, expect, it } from 'vitest';
import { decideNow, featureDecisions } from '../../src/entitlements/decide.js';
import { NO_ADDONS, planProfile } from '../../src/entitlements/plan-profile.js';
import { tenantState } from '../../src/entitlements/tenant-state.js';
import { snapshotOf } from '../support/policy.js';

const POLICY = `
features:
  max_calendars: { name: Calendars, description: '', type: number, default: 1, upgradeMessage: Upgrade }
  can_export: { name: Export, description: '', type: boolean, default: false, upgradeMessage: Upgrade }
plans:
  pro:
    version: 2
    features: { max_calendars: 3 }
    versions:
      1:
        features: { max_calendars: 2, can_export: true }
addons:
  extra_calendars:
    features: { max_calendars: 5 }
`;

const AT = '2026-11-01T00:00:00.000Z';
const clock = () => Date.parse('2026-12-01T00:00:00Z');

describe('profiles past the interning bound', () => {
  it('are decided like numbered ones, and their decisions kept', () => {
    const numbered = planProfile('pro', 1, new Map([['extra_calendars', 1]]));
    expect(numbered.index).toBeGreaterThanOrEqual(0);
    expect(planProfile('pro', 2, NO_ADDONS).versionIndex).toBeGreaterThanOrEqual(0);
    // Fill the table until a new profile gets no number (the bound is 100,000).
    let filled = false;
    for (let i = 1; i <= 200_000 && !filled; i++) filled = planProfile('filler', 1, new Map([['x', i]])).index === -1;
    expect(filled).toBe(true);

    const tenant = (id: string, planVersion: number, quantity: number) =>
      tenantState({
        tenant: { id, name: id, plan: 'pro', planVersion, createdAt: AT, updatedAt: AT },
        overrides: [],
        addons: [{ tenantId: id, addon: 'extra_calendars', quantity, createdAt: AT, updatedAt: AT }],
      });
    const past = tenant('past', 2, 7);
    expect(past.profile.index).toBe(-1);
    expect(past.profile.base.versionIndex).toBeGreaterThanOrEqual(0); // pro@2 was numbered before the bound

    const onlyPast = tenantState({
      tenant: { id: 'v9', name: 'v9', plan: 'pro', planVersion: 9, createdAt: AT, updatedAt: AT },
      overrides: [],
    });
    expect(onlyPast.profile.versionIndex).toBe(-1); // a plan version first seen past the bound

    const snapshot = snapshotOf(POLICY);
    const calendars = featureDecisions(snapshot, 'max_calendars');
    const exports = featureDecisions(snapshot, 'can_export');
    expect(calendars?.resolve(past, clock)).toMatchObject({ value: 38, flagMetadata: { cause: 'GRANTED_BY_ADDON' } });
    expect(calendars?.resolve(past, clock)).toBe(decideNow(snapshot, past, 'max_calendars', clock)?.resolution);
    expect(exports?.resolve(past, clock)).toMatchObject({ value: false, flagMetadata: { planVersion: 2 } });
    // Version 9 is not in the policy: it reads as the current one.
    expect(calendars?.resolve(onlyPast, clock)).toMatchObject({ value: 3, flagMetadata: { planVersion: 2 } });
    expect(exports?.resolve(onlyPast, clock)).toBe(decideNow(snapshot, onlyPast, 'can_export', clock)?.resolution);
    // A numbered profile beside them is unaffected.
    const early = tenant('early', 1, 1);
    expect(early.profile).toBe(numbered);
    expect(calendars?.resolve(early, clock)).toMatchObject({ value: 7, flagMetadata: { planVersion: 1 } });
    expect(exports?.resolve(early, clock)).toMatchObject({ value: true });
  });
});
