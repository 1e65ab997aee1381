// Which features may decide differently under a new policy than under the old one.

import type { PolicySnapshot } from '../policy/types.js';

/** Features added, removed, or changed in definition or in any plan's value. */
export function changedFeatures(previous: PolicySnapshot, next: PolicySnapshot): string[] {
  const changed = new Set<string>();
  const keys = new Set([...previous.features.keys(), ...next.features.keys()]);
  const plans = new Set([...previous.plans.keys(), ...next.plans.keys()]);
  for (const key of keys) {
    const before = previous.features.get(key);
    const after = next.features.get(key);
    if (
      !before ||
      !after ||
      before.type !== after.type ||
      before.default !== after.default ||
      before.rollout?.unleash !== after.rollout?.unleash
    ) {
      changed.add(key);
      continue;
    }
    for (const plan of plans) {
      if (previous.plans.get(plan)?.values.get(key)?.value !== next.plans.get(plan)?.values.get(key)?.value) {
        changed.add(key);
        break;
      }
    }
  }
  return [...changed];
}
