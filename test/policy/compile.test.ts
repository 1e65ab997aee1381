import { describe, expect, it } from 'vitest';
import { FrozenMapError } from '../../src/policy/frozen-map.js';
import { snapshotOf } from '../support/policy.js';

const POLICY = `features:
  sync:
    name: Sync
    description: Two-way sync.
    type: boolean
    default: false
    upgradeMessage: Upgrade for sync.
  seats:
    name: Seats
    description: Team seats.
    type: number
    default: 1
    upgradeMessage: Upgrade for more seats.
  sso:
    name: SSO
    description: Single sign-on.
    type: boolean
    default: false
    upgradeMessage: Ask sales for SSO.
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

  it('compiles a feature with everything the policy says about it', () => {
    expect(snapshotOf(POLICY).features.get('sync')).toEqual({
      key: 'sync',
      name: 'Sync',
      description: 'Two-way sync.',
      type: 'boolean',
      default: false,
      upgradeMessage: 'Upgrade for sync.',
      values: undefined,
      rollout: undefined,
      requiredPlan: 'pro',
    });
  });

  it('fills in a plan display name from its key when the policy leaves it out', () => {
    const snapshot = snapshotOf(POLICY);
    expect(snapshot.plans.get('free')?.name).toBe('Free');
    expect(snapshot.plans.get('pro')?.name).toBe('Professional');
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
    expect(Object.isFrozen(snapshot.plans.get('pro')?.chain)).toBe(true);
    expect(Object.isFrozen(snapshot.plans.get('pro')?.values.get('sync'))).toBe(true);
    expect(Object.isFrozen(snapshot.files)).toBe(true);
  });

  it('refuses every change to its maps, which keep their content', () => {
    const snapshot = snapshotOf(POLICY);
    const pro = snapshot.plans.get('pro');
    // The types say ReadonlyMap; at run time the maps must refuse too (JavaScript callers, casts).
    const maps = [snapshot.features, snapshot.plans, pro?.values] as Map<string, unknown>[];
    for (const map of maps) {
      const before = [...map];
      expect(before.length).toBeGreaterThan(0);
      expect(() => map.set('sync', 'x')).toThrow(FrozenMapError);
      expect(() => map.delete('sync')).toThrow(FrozenMapError);
      expect(() => map.clear()).toThrow(FrozenMapError);
      expect(() => Object.assign(map, { get: () => 'x' })).toThrow(TypeError);
      expect([...map]).toEqual(before);
    }
    expect(pro?.values.get('sync')).toEqual({ value: true, definedBy: 'pro' });
    expect(snapshot.features.has('sync')).toBe(true);
  });
});
