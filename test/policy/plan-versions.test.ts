// Plan versions in the policy: each version compiles through `extends` (free or free@1), and
// every mistake is reported at its position.

import { describe, expect, it } from 'vitest';
import { formatIssue, readPolicyTexts } from '../../src/policy/read-policy.js';

const FEATURES = `features:
  a:
    name: A
    description: ''
    type: boolean
    default: false
    upgradeMessage: Upgrade.
  n:
    name: N
    description: ''
    type: number
    default: 0
    upgradeMessage: Upgrade.
`;

const read = (plans: string) => readPolicyTexts([{ file: 'p.yaml', text: `${FEATURES}${plans}` }]);

describe('plan versions in the policy', () => {
  it('compile every version, earlier ones extending the base plan at its current version unless they name one', () => {
    const result = read(`plans:
  free:
    version: 2
    features: { n: 2 }
    versions:
      1: { features: { n: 1 } }
  pro:
    extends: free
    version: 3
    features: { a: true }
    versions:
      1: { extends: free@1, features: { a: true } }
      2: { features: { a: false } }
`);
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    const pro = result.snapshot.plans.get('pro');
    const values = (version: number) =>
      Object.fromEntries([...(pro?.versions.get(version)?.values ?? [])].map(([key, { value }]) => [key, value]));
    expect(pro?.version).toBe(3);
    expect([values(1), values(2), values(3)]).toEqual([
      { n: 1, a: true },
      { n: 2, a: false },
      { n: 2, a: true },
    ]);
    expect(pro?.versions.get(1)?.extends).toBe('free@1');
    expect(Object.fromEntries([...(pro?.values ?? [])].map(([key, { value }]) => [key, value]))).toEqual(values(3));
  });

  it('report each mistake at its position', () => {
    const result = read(`plans:
  free:
    features: { n: 1 }
  pro:
    extends: free@2
    version: 2
    features: { a: true }
    versions:
      2: { features: { a: true } }
      3: { features: { a: true } }
      1: { features: { b: true, n: yes } }
`);
    expect(result.ok).toBe(false);
    expect(result.issues.map(formatIssue)).toEqual([
      'p.yaml:18:14: plans.pro.extends: plan "free" has no version 2 (it has 1)',
      'p.yaml:22:7: plans.pro.versions.2: version 2 is the plan\'s current version: its values are the plan\'s "features"',
      'p.yaml:23:7: plans.pro.versions.3: an earlier version must be below the plan\'s current version 2 ("version")',
      'p.yaml:24:24: plans.pro.versions.1.features: unknown feature "b" (did you mean "a"?)',
      'p.yaml:24:36: plans.pro.versions.1.features.n: must be a number, as the feature\'s type is "number" (got string "yes")',
    ]);
  });

  it('refuse an extends cycle through versions', () => {
    const result = read(`plans:
  free:
    extends: pro@1
  pro:
    version: 2
    versions:
      1: { extends: free }
`);
    expect(result.ok).toBe(false);
    expect(result.issues.map(formatIssue)).toContain(
      'p.yaml:16:14: plans.free.extends: extends cycle free@1 → pro@1 → free@1',
    );
  });
});
