// Policy compile and hot reload for a large generated policy (1,000 features × 20 plans, block
// YAML). Peers, in the same run: the YAML parse of the same file (what any YAML-based format
// pays) and @openfeature/flagd-core loading an equivalent flag set (one flag per feature, a
// `plan in [...]` rule per value) from JSON.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlagdCore } from '@openfeature/flagd-core';
import { stringify } from 'yaml';
import { compilePolicy } from '../src/policy/compile.js';
import { parsePolicyText, type PolicyFile } from '../src/policy/load.js';
import type { FeatureValue, PolicySnapshot } from '../src/policy/types.js';
import { validateFileSchema, validateSemantics } from '../src/policy/validate.js';
import { PolicyWatcher } from '../src/policy/watch.js';
import { median, ratio, type Row } from './support/measure.js';
import { compile, generatePolicyText } from './support/workload.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const RUNS = 9;

/** Median of `RUNS` timed runs after one untimed. */
function time(work: () => void): number {
  work();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    work();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

/** The policy's decisions as flagd flags: per feature, a `plan in [...]` rule per non-default value. */
function flagdFlags(policy: PolicySnapshot): string {
  const flags: Record<string, object> = {};
  for (const feature of policy.features.values()) {
    const variantOf = (value: FeatureValue) => `v_${String(value)}`;
    const byValue = new Map<FeatureValue, string[]>();
    for (const plan of policy.plans.values()) {
      const value = plan.values.get(feature.key)?.value ?? feature.default;
      if (value !== feature.default) byValue.set(value, [...(byValue.get(value) ?? []), plan.key]);
    }
    const variants: Record<string, FeatureValue> = { [variantOf(feature.default)]: feature.default };
    const rules: unknown[] = [];
    for (const [value, plans] of byValue) {
      variants[variantOf(value)] = value;
      rules.push({ in: [{ var: 'plan' }, plans] }, variantOf(value));
    }
    flags[feature.key] = {
      state: 'ENABLED',
      variants,
      defaultVariant: variantOf(feature.default),
      ...(rules.length > 0 ? { targeting: { if: [...rules, variantOf(feature.default)] } } : {}),
    };
  }
  return JSON.stringify({ flags });
}

export async function benchPolicy(rows: Row[]): Promise<void> {
  // Block YAML, the way people write policy files.
  const text = stringify(JSON.parse(generatePolicyText(1_000, 20)));
  const parsed = parsePolicyText('large.yaml', text).file as PolicyFile;
  const snapshot = compile(text);
  const flagdJson = flagdFlags(snapshot);
  const flagd = new FlagdCore();

  const parseMs = time(() => parsePolicyText('large.yaml', text));
  const compileMs = time(() => {
    if (validateFileSchema(parsed).length > 0) throw new Error('generated policy is invalid');
    compilePolicy(validateSemantics([parsed]).merged);
  });
  const readMs = time(() => compile(text));
  const flagdMs = time(() => flagd.setConfigurations(flagdJson));

  const section = `policy: 1,000 features × 20 plans (block YAML, ${(text.length / 1024).toFixed(0)} KiB)`;
  rows.push({
    section,
    name: 'YAML parse with positions (peer: any YAML format pays it)',
    value: `${parseMs.toFixed(1)} ms`,
    raw: { ms: parseMs },
  });
  rows.push({
    section,
    name: `flagd-core setConfigurations, same decisions (${(flagdJson.length / 1024).toFixed(0)} KiB JSON)`,
    value: `${flagdMs.toFixed(1)} ms`,
    raw: { ms: flagdMs },
  });
  rows.push({
    section,
    name: 'validate + compile (parsed file in, snapshot out)',
    value: `${compileMs.toFixed(1)} ms`,
    ratio: ratio(compileMs, parseMs),
    peer: 'YAML parse',
    target: 'compile < 100 ms',
    met: compileMs < 100,
    raw: { ms: compileMs },
  });
  rows.push({
    section,
    name: 'read end to end (parse + validate + compile)',
    value: `${readMs.toFixed(1)} ms`,
    ratio: ratio(readMs, flagdMs),
    peer: 'flagd-core load',
    raw: { ms: readMs },
  });

  // Hot reload: from the file write to the new snapshot in force (fs.watch, 50 ms debounce, read).
  const dir = mkdtempSync(join(tmpdir(), 'entitle-bench-policy-'));
  writeFileSync(join(dir, 'policy.yaml'), text);
  const watcher = await PolicyWatcher.open({ directory: dir, logger: quiet });
  const reloads: number[] = [];
  for (let i = 0; i < 5; i++) {
    const changed = new Promise<void>((resolve) => watcher.once('change', () => resolve()));
    const start = performance.now();
    writeFileSync(join(dir, 'policy.yaml'), text.replace('name: Feature 0\n', `name: Feature 0 v${i}\n`));
    await Promise.race([changed, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    reloads.push(performance.now() - start);
  }
  watcher.close();
  rmSync(dir, { recursive: true, force: true });
  const reloadMs = median(reloads);
  rows.push({
    section,
    name: 'hot reload (file write → new snapshot in force, 50 ms debounce)',
    value: `p50 ${reloadMs.toFixed(0)} ms`,
    ratio: ratio(reloadMs, readMs),
    peer: 'read end to end',
    raw: { p50Ms: reloadMs },
  });
}
