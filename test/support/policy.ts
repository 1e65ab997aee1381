// Test helpers for policies: snapshots from inline text, and a policy source that can change.

import { EventEmitter } from 'node:events';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PolicySource } from '../../src/entitlements/entitle-provider.js';
import { formatIssue, readPolicyTexts } from '../../src/policy/read-policy.js';
import type { PolicySnapshot } from '../../src/policy/types.js';

/** Compiles policy text (YAML or JSON) or a policy object; throws with the issues if invalid. */
export function snapshotOf(policy: string | object, file = 'policy.yaml'): PolicySnapshot {
  const text = typeof policy === 'string' ? policy : JSON.stringify(policy);
  const result = readPolicyTexts([{ file, text }]);
  if (!result.ok) throw new Error(`test policy is invalid:\n${result.issues.map(formatIssue).join('\n')}`);
  return result.snapshot;
}

/** A policy source whose snapshot a test can replace. */
export class TestPolicySource extends EventEmitter implements PolicySource {
  constructor(public snapshot: PolicySnapshot) {
    super();
  }

  replace(next: PolicySnapshot): void {
    const previous = this.snapshot;
    this.snapshot = next;
    this.emit('change', next, previous);
  }
}

/** A temporary directory holding the given files. */
export function policyDirectory(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-policy-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** The starter policy shipped in policies/. */
export const STARTER_POLICY_DIR = new URL('../../policies/', import.meta.url).pathname;

/** A temporary copy of the starter policy, for tests that change files. */
export function copyPolicyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-policy-'));
  cpSync(STARTER_POLICY_DIR, dir, { recursive: true });
  return dir;
}
