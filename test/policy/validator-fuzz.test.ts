// The policy validator fuzzed: random YAML and mutated copies of the shipped policy. It never
// throws, never hangs, and every issue it reports has a file, a line and a column.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { readPolicyTexts } from '../../src/policy/read-policy.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';
import { runs } from '../support/runs.js';

const FEATURES = readFileSync(join(STARTER_POLICY_DIR, 'features.yaml'), 'utf8');
const PLANS = readFileSync(join(STARTER_POLICY_DIR, 'plans.yaml'), 'utf8');

function check(texts: { file: string; text: string }[]): void {
  const started = performance.now();
  const result = readPolicyTexts(texts);
  expect(performance.now() - started).toBeLessThan(2_000);
  if (result.ok) return;
  expect(result.issues.length).toBeGreaterThan(0);
  for (const issue of result.issues) {
    expect(texts.map((t) => t.file)).toContain(issue.file);
    expect(issue.line).toBeGreaterThanOrEqual(1);
    expect(issue.column).toBeGreaterThanOrEqual(1);
    expect(issue.message.length).toBeGreaterThan(0);
  }
}

/** A mutation of a text: delete, duplicate, swap or corrupt a slice. */
const mutation = fc.record({
  kind: fc.constantFrom('delete', 'duplicate-line', 'insert', 'replace-char', 'swap-lines', 'indent'),
  at: fc.nat(),
  length: fc.integer({ min: 1, max: 40 }),
  text: fc.string({ maxLength: 20, unit: fc.constantFrom(...'ab: -[]{}#&*!|>\'"\n\t 0129.eyu_'.split('')) }),
});

function mutate(text: string, mutations: { kind: string; at: number; length: number; text: string }[]): string {
  let out = text;
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    const lines = out.split('\n');
    const line = lines.length === 0 ? 0 : m.at % lines.length;
    switch (m.kind) {
      case 'delete':
        out = out.slice(0, at) + out.slice(at + m.length);
        break;
      case 'duplicate-line':
        lines.splice(line, 0, lines[line] ?? '');
        out = lines.join('\n');
        break;
      case 'insert':
        out = out.slice(0, at) + m.text + out.slice(at);
        break;
      case 'replace-char':
        out = out.slice(0, at) + (m.text[0] ?? ':') + out.slice(at + 1);
        break;
      case 'swap-lines': {
        const other = (line + m.length) % Math.max(lines.length, 1);
        [lines[line], lines[other]] = [lines[other] ?? '', lines[line] ?? ''];
        out = lines.join('\n');
        break;
      }
      case 'indent':
        lines[line] = ' '.repeat(m.length % 7) + (lines[line] ?? '');
        out = lines.join('\n');
        break;
    }
  }
  return out;
}

describe('policy validator fuzzing', () => {
  it('mutated shipped policy files: never throws, always positions', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 5 }), fc.array(mutation, { maxLength: 3 }), (a, b) => {
        check([
          { file: 'features.yaml', text: mutate(FEATURES, a) },
          { file: 'plans.yaml', text: mutate(PLANS, b) },
        ]);
      }),
      { numRuns: runs(300, 20_000) },
    );
  });

  it('random YAML documents: never throws, always positions', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 3 }), (a, b) => {
        check([{ file: 'random.yaml', text: stringify(a) }]);
        check([{ file: 'shaped.yaml', text: stringify({ features: a, plans: b }) }]);
      }),
      { numRuns: runs(300, 20_000) },
    );
  });

  it('random bytes and strings: never throws, always positions', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 200 }), (text, bytes) => {
        check([{ file: 'text.yaml', text }]);
        check([{ file: 'bytes.yaml', text: Buffer.from(bytes).toString('latin1') }]);
      }),
      { numRuns: runs(300, 20_000) },
    );
  });

  it('pathological YAML (alias bombs, deep nesting, huge keys) answers quickly with positions', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      ...Array.from(
        { length: 9 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
      ),
    ].join('\n');
    check([{ file: 'bomb.yaml', text: bomb }]);
    check([{ file: 'deep.yaml', text: `features: ${'['.repeat(500)}${']'.repeat(500)}` }]);
    check([{ file: 'key.yaml', text: `features:\n  ${'k'.repeat(100_000)}: {}` }]);
    check([
      {
        file: 'proto.yaml',
        text: 'features:\n  __proto__:\n    name: x\n    type: boolean\n    default: true\nplans: {}\n',
      },
    ]);
    check([{ file: 'empty.yaml', text: '' }]);
    check([{ file: 'nul.yaml', text: 'features:\u0000' }]);
  });
});
