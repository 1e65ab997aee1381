import { describe, expect, it } from 'vitest';
import { snapshotOf } from '../support/policy.js';

const POLICY = `features:
  sync:
    name: Sync
    type: boolean
    default: false
    upgradeMessage: Upgrade for sync.
  seats:
    name: Seats
    type: number
    default: 1
  sso:
    name: SSO
    type: boolean
    default: false
plans:
  free:
    features:
      seats: 1
  pro:
    name: Professional
    extends: free
    features:
      sync: true
      seats: 5
  team:
    extends: pro
    features:
      seats: 20
`;

describe('policy compilation', () => {
  it('flattens extends: a plan inherits its ancestors and overrides them', () => {
    const team = snapshotOf(POLICY).plans.get('team');
    expect(team?.chain).toEqual(['team', 'pro', 'free']);
    expect(Object.fromEntries(team?.values ?? [])).toEqual({
      seats: { value: 20, definedBy: 'team' },
      sync: { value: true, definedBy: 'pro' },
    });
  });

  it('names the lowest plan that grants each feature, in declaration order', () => {
    const features = snapshotOf(POLICY).features;
    expect(features.get('sync')?.requiredPlan).toBe('pro');
    expect(features.get('seats')?.requiredPlan).toBe('free');
    expect(features.get('sso')?.requiredPlan).toBeUndefined();
  });

  it('fills in display names and an upgrade message when the policy leaves them out', () => {
    const snapshot = snapshotOf(POLICY);
    expect(snapshot.plans.get('free')?.name).toBe('Free');
    expect(snapshot.plans.get('pro')?.name).toBe('Professional');
    expect(snapshot.features.get('sync')?.upgradeMessage).toBe('Upgrade for sync.');
    expect(snapshot.features.get('sso')?.upgradeMessage).toBe('SSO is not available on your plan.');
  });

  it('gives equal content an equal version and different content another', () => {
    expect(snapshotOf(POLICY).version).toBe(snapshotOf(POLICY).version);
    expect(snapshotOf(POLICY).version).not.toBe(snapshotOf(POLICY.replace('seats: 20', 'seats: 21')).version);
    expect(snapshotOf(POLICY).version).toMatch(/^[0-9a-f]{16}$/);
  });

  it('freezes what it returns', () => {
    const snapshot = snapshotOf(POLICY);
    expect(Object.isFrozen(snapshot)).toBe(true);
    expect(Object.isFrozen(snapshot.features.get('sync'))).toBe(true);
    expect(Object.isFrozen(snapshot.plans.get('pro'))).toBe(true);
  });
});
