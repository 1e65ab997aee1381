import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue, readPolicyDirectory, readPolicyTexts } from '../../src/policy/read-policy.js';
import { policyDirectory, STARTER_POLICY_DIR } from '../support/policy.js';

function issuesOf(files: Record<string, string>): string[] {
  const result = readPolicyTexts(Object.entries(files).map(([file, text]) => ({ file, text })));
  return result.issues.map(formatIssue);
}

const FEATURES = `features:
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
    upgradeMessage: Upgrade for seats.
`;

/** The lines every feature needs besides name, type and default. */
const TEXTS = '    description: A feature.\n    upgradeMessage: Upgrade for it.\n';

describe('policy validation', () => {
  it('accepts the starter policy shipped in policies/', async () => {
    const result = await readPolicyDirectory(STARTER_POLICY_DIR);
    expect(result.issues).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it('reports a YAML syntax error with its position', () => {
    expect(issuesOf({ 'a.yaml': 'plans:\n  free: [1\n' })).toEqual([
      'a.yaml:3:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });

  it('reports an unclosed quote where it opens, not where the file ends', () => {
    const text = `features:\n  sync:\n    name: "Sync\n    type: boolean\n    default: false\n${TEXTS}`;
    expect(issuesOf({ 'a.yaml': text })).toEqual([
      'a.yaml:3:11: YAML syntax error: Missing closing "quote (the quoted value that starts here is never closed)',
    ]);
  });

  it('reports a duplicate key inside one file, naming the key and where it was first defined', () => {
    expect(
      issuesOf({ 'a.yaml': `${FEATURES}  sync:\n    name: Again\n    type: boolean\n    default: true\n` }),
    ).toEqual(['a.yaml:14:3: YAML duplicate key "sync" in features: already defined at a.yaml:2:3']);
    expect(issuesOf({ 'a.yaml': FEATURES.replace('    default: 1\n', '    default: 1\n    default: 2\n') })).toEqual([
      'a.yaml:13:5: YAML duplicate key "default" in features.seats: already defined at a.yaml:12:5',
    ]);
    expect(issuesOf({ 'a.yaml': `${FEATURES}features: {}\n` })).toEqual([
      'a.yaml:14:1: YAML duplicate key "features": already defined at a.yaml:1:1',
    ]);
  });

  describe('a file that does not parse', () => {
    const starter = (name: string) => readFileSync(join(STARTER_POLICY_DIR, name), 'utf8');
    const brokenFeatures = () =>
      starter('features.yaml').replace('    default: false\n', '    default: false\n    default: true\n');

    it('reports only its own error, not the plans that name features it defines as unknown', () => {
      expect(brokenFeatures()).not.toBe(starter('features.yaml'));
      expect(issuesOf({ 'features.yaml': brokenFeatures(), 'plans.yaml': starter('plans.yaml') })).toEqual([
        'features.yaml:11:5: YAML duplicate key "default" in features.can_use_calendar_sync: already defined at features.yaml:10:5',
      ]);
    });

    it('does the same when read from a directory, for a syntax error', async () => {
      const directory = policyDirectory({
        'features.yaml': starter('features.yaml').replace('name: Calendar Sync', 'name: "Calendar Sync'),
        'plans.yaml': starter('plans.yaml'),
      });
      const result = await readPolicyDirectory(directory, directory);
      expect(result.issues.map(formatIssue)).toEqual([
        'features.yaml:7:11: YAML syntax error: Missing closing "quote (the quoted value that starts here is never closed)',
      ]);
    });

    it('still reports what does not depend on it: schema errors, wrong values of known features, extends cycles', () => {
      const plans =
        'plans:\n  free:\n    extends: free\n    nmae: Free\n    features:\n      sync: 3\n      ghost: true\n  pro:\n    extends: gold\n';
      expect(issuesOf({ 'a.yaml': FEATURES, 'b.yaml': plans, 'c.yaml': 'features:\n  x: [\n' })).toEqual([
        'b.yaml:3:14: plans.free.extends: extends cycle free → free',
        'b.yaml:4:5: plans.free: unknown property "nmae" (did you mean "name"?)',
        'b.yaml:6:13: plans.free.features.sync: must be a boolean, as the feature\'s type is "boolean" (got number 3)',
        'c.yaml:3:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
      ]);
    });
  });

  it('reports a feature defined in two files at the second, naming the first', () => {
    const issues = issuesOf({
      'a.yaml': FEATURES,
      'b.yaml': `features:\n  sync:\n    name: Sync\n    type: boolean\n    default: true\n${TEXTS}`,
    });
    expect(issues).toEqual(['b.yaml:2:3: features.sync: feature "sync" is already defined at a.yaml:2:3']);
  });

  it('reports a plan defined in two files', () => {
    const issues = issuesOf({ 'a.yaml': 'plans:\n  free: {}\n', 'b.yaml': 'plans:\n  pro: {}\n  free: {}\n' });
    expect(issues).toEqual(['b.yaml:3:3: plans.free: plan "free" is already defined at a.yaml:2:3']);
  });

  it('reports schema errors: missing property, unknown property with a hint, bad key, wrong enum', () => {
    const text = `features:
  no_type:
    name: No type
    default: false
${TEXTS}  typo:
    name: Typo
    description: A typo.
    type: boolean
    default: false
    upgradeMesage: Upgrade!
  Bad_Key:
    name: Bad
    type: boolean
    default: false
${TEXTS}  weird:
    name: Weird
    type: list
    default: false
${TEXTS}`;
    expect(issuesOf({ 'a.yaml': text })).toEqual([
      'a.yaml:2:3: features.no_type: missing required property "type"',
      'a.yaml:7:3: features.typo: missing required property "upgradeMessage"',
      'a.yaml:12:5: features.typo: unknown property "upgradeMesage" (did you mean "upgradeMessage"?)',
      'a.yaml:13:3: features: invalid key "Bad_Key": keys are lower-case letters, digits and "_" (for example can_use_webhooks)',
      'a.yaml:21:11: features.weird.type: must be one of "boolean", "number", "string", "meter"',
    ]);
  });

  it('requires a description and a non-empty upgrade message on every feature', () => {
    const text =
      'features:\n  sync:\n    name: Sync\n    type: boolean\n    default: false\n  seats:\n    name: Seats\n    description: Seats.\n    type: number\n    default: 1\n    upgradeMessage: ""\n';
    expect(issuesOf({ 'a.yaml': text })).toEqual([
      'a.yaml:2:3: features.sync: missing required property "description"',
      'a.yaml:2:3: features.sync: missing required property "upgradeMessage"',
      'a.yaml:11:21: features.seats.upgradeMessage: must not be empty',
    ]);
  });

  it('reports a default of the wrong type', () => {
    const text = `features:\n  seats:\n    name: Seats\n    type: number\n    default: "two"\n${TEXTS}`;
    expect(issuesOf({ 'a.yaml': text })).toEqual([
      'a.yaml:5:14: features.seats.default: must be a number, as the feature\'s type is "number" (got string "two")',
    ]);
  });

  it('reports .inf and .nan once each, saying what is wrong with them', () => {
    const text = `features:\n  seats:\n    name: Seats\n    type: number\n    default: .inf\n${TEXTS}plans:\n  free:\n    features:\n      seats: .nan\n      sync: -.inf\n`;
    expect(issuesOf({ 'a.yaml': FEATURES.replace(/ {2}seats:[^]*$/, ''), 'b.yaml': text })).toEqual([
      'b.yaml:5:14: features.seats.default: must be a finite number',
      'b.yaml:11:14: plans.free.features.seats: must be a finite number',
      'b.yaml:12:13: plans.free.features.sync: must be a boolean, as the feature\'s type is "boolean" (got number -Infinity)',
    ]);
  });

  it('reports an unknown feature referenced by a plan, with a hint', () => {
    const plans = 'plans:\n  free:\n    features:\n      snyc: true\n';
    expect(issuesOf({ 'a.yaml': FEATURES, 'b.yaml': plans })).toEqual([
      'b.yaml:4:7: plans.free.features: unknown feature "snyc" (did you mean "sync"?)',
    ]);
  });

  it('reports a plan value of the wrong type at the value', () => {
    const plans = 'plans:\n  free:\n    features:\n      sync: 1\n      seats: yes\n';
    expect(issuesOf({ 'a.yaml': FEATURES, 'b.yaml': plans })).toEqual([
      'b.yaml:4:13: plans.free.features.sync: must be a boolean, as the feature\'s type is "boolean" (got number 1)',
      'b.yaml:5:14: plans.free.features.seats: must be a number, as the feature\'s type is "number" (got string "yes")',
    ]);
  });

  it("reports a string value outside the feature's listed values", () => {
    const text = `features:
  tier:
    name: Tier
    type: string
    values: [basic, gold]
    default: basic
${TEXTS}plans:
  free:
    features:
      tier: platinum
`;
    expect(issuesOf({ 'a.yaml': text })).toEqual([
      'a.yaml:12:13: plans.free.features.tier: must be one of "basic", "gold" (got "platinum")',
    ]);
  });

  it('reports extends naming a missing plan', () => {
    expect(issuesOf({ 'a.yaml': 'plans:\n  pro:\n    extends: fre\n  free: {}\n' })).toEqual([
      'a.yaml:3:14: plans.pro.extends: unknown plan "fre" (did you mean "free"?)',
    ]);
  });

  it('reports an extends cycle once, at the first plan of the cycle', () => {
    const text = 'plans:\n  a:\n    extends: c\n  b:\n    extends: a\n  c:\n    extends: b\n  d:\n    extends: d\n';
    expect(issuesOf({ 'a.yaml': text })).toEqual([
      'a.yaml:3:14: plans.a.extends: extends cycle a → c → b → a',
      'a.yaml:9:14: plans.d.extends: extends cycle d → d',
    ]);
  });

  it('reports an empty file and a binary file', () => {
    expect(issuesOf({ 'empty.yaml': '', 'bin.yaml': 'features:\u0000\u0001' })).toEqual([
      'bin.yaml:1:1: not a text file (contains NUL bytes)',
      'empty.yaml:1:1: the file is empty: a policy file needs "features" or "plans"',
    ]);
  });

  it('reports every issue at once, across files, sorted by position', () => {
    const issues = issuesOf({
      'b.yaml': 'plans:\n  free:\n    extends: nowhere\n    features:\n      ghost: true\n',
      'a.yaml': `features:\n  sync:\n    name: Sync\n    type: boolean\n${TEXTS}`,
    });
    expect(issues).toEqual([
      'a.yaml:2:3: features.sync: missing required property "default"',
      'b.yaml:3:14: plans.free.extends: unknown plan "nowhere"',
      'b.yaml:5:7: plans.free.features: unknown feature "ghost"',
    ]);
  });

  it('reports a directory without policy files and a missing directory', async () => {
    const empty = policyDirectory({ 'notes.txt': 'hello' });
    expect((await readPolicyDirectory(empty)).issues.map((issue) => issue.message)).toEqual([
      'no policy files (*.yaml) in this directory',
    ]);
    expect((await readPolicyDirectory(`${empty}/missing`)).issues.map((issue) => issue.message)).toEqual([
      'cannot read policy directory: no such file or directory',
    ]);
  });
});
