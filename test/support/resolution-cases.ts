// The resolution cases under test/fixtures/resolution-cases/: data that every way of asking
// for a decision (the resolver, the provider, OFREP, Unleash, each store) is held to.

import { readdirSync, readFileSync } from 'node:fs';
import { readPolicyDirectory } from '../../src/policy/read-policy.js';
import type { FeatureType, PolicySnapshot } from '../../src/policy/types.js';
import type { EntitleStore } from '../../src/store/store.js';
import { snapshotOf, STARTER_POLICY_DIR } from './policy.js';

export interface ResolutionCase {
  readonly name: string;
  readonly flag: string;
  readonly type: FeatureType;
  readonly context: Record<string, string>;
  readonly expected: {
    readonly value?: boolean | number | string;
    readonly variant?: string;
    readonly reason?: string;
    readonly errorCode?: string;
    readonly metadata?: Record<string, string | number | boolean>;
  };
}

export interface ResolutionSuite {
  readonly file: string;
  readonly description: string;
  readonly now: string;
  /** An inline policy, or "starter" for the shipped one. */
  readonly policy: object | 'starter';
  readonly tenants: readonly { id: string; name: string; plan: string }[];
  readonly overrides: readonly { tenantId: string; feature: string; value: boolean | number | string; reason: string; expiresAt: string | null }[];
  readonly cases: readonly ResolutionCase[];
}

const DIR = new URL('../fixtures/resolution-cases/', import.meta.url);

export function loadResolutionSuites(): ResolutionSuite[] {
  return readdirSync(DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((file) => ({ file, ...(JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as Omit<ResolutionSuite, 'file'>) }));
}

export async function suitePolicy(suite: ResolutionSuite): Promise<PolicySnapshot> {
  if (suite.policy !== 'starter') return snapshotOf(suite.policy);
  const result = await readPolicyDirectory(STARTER_POLICY_DIR);
  if (!result.ok) throw new Error('starter policy is invalid');
  return result.snapshot;
}

/** Writes the suite's tenants and overrides through the store (as an operator would). */
export async function seedSuite(store: EntitleStore, suite: ResolutionSuite): Promise<void> {
  const context = { actor: 'test:seed' };
  for (const tenant of suite.tenants) await store.tenants.create(tenant, context);
  for (const override of suite.overrides) await store.overrides.set(override, context);
}
