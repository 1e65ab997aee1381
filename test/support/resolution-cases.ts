// The resolution cases under test/fixtures/resolution-cases/: data that every way of asking
// for a decision (the resolver, the provider, OFREP, Unleash, each store) is held to.

import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { Client, EvaluationDetails, FlagValue } from '@openfeature/server-sdk';
import { expect } from 'vitest';
import { dropSchema } from './app.js';
import { readPolicyDirectory } from '../../src/policy/read-policy.js';
import type { FeatureType, PolicySnapshot } from '../../src/policy/types.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { EntitleStore } from '../../src/store/store.js';
import { policyDirectory, snapshotOf, STARTER_POLICY_DIR } from './policy.js';

export interface ResolutionCase {
  readonly name: string;
  readonly flag: string;
  // Meters are evaluated with a store's usage; the cases cover the value types.
  readonly type: Exclude<FeatureType, 'meter'>;
  readonly context: Record<string, string>;
  /** Either a value with its variant and reason, or an error code. */
  readonly expected: {
    readonly value?: boolean | number | string;
    readonly variant?: string;
    readonly reason?: string;
    readonly errorCode?: string;
    /** Entries the flag metadata must have (it may have more). */
    readonly metadata?: Record<string, string | number | boolean>;
  };
}

export interface ResolutionSuite {
  readonly file: string;
  readonly description: string;
  /** The time of every case: overrides expiring at or before it no longer apply. */
  readonly now: string;
  /** An inline policy, or "starter" for the shipped one. */
  readonly policy: object | 'starter';
  readonly tenants: readonly { id: string; name: string; plan: string }[];
  readonly overrides: readonly {
    tenantId: string;
    feature: string;
    value: boolean | number | string;
    reason: string;
    expiresAt: string | null;
  }[];
  readonly cases: readonly ResolutionCase[];
}

const DIR = new URL('../fixtures/resolution-cases/', import.meta.url);

export function loadResolutionSuites(): ResolutionSuite[] {
  return readdirSync(DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((file) => ({
      file,
      ...(JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as Omit<ResolutionSuite, 'file'>),
    }));
}

export async function suitePolicy(suite: ResolutionSuite): Promise<PolicySnapshot> {
  if (suite.policy !== 'starter') return snapshotOf(suite.policy);
  const result = await readPolicyDirectory(STARTER_POLICY_DIR);
  if (!result.ok) throw new Error('starter policy is invalid');
  return result.snapshot;
}

/** A policy directory holding the suite's policy, for an app (ENTITLE_POLICIES). */
export function suitePolicyDirectory(suite: ResolutionSuite): string {
  // JSON is YAML: the inline policy is written as it is.
  return suite.policy === 'starter'
    ? STARTER_POLICY_DIR
    : policyDirectory({ 'policy.yaml': JSON.stringify(suite.policy) });
}

/** Writes the suite's tenants and overrides through the store (as an operator would). */
export async function seedSuite(store: EntitleStore, suite: ResolutionSuite): Promise<void> {
  const context = { actor: 'test:seed' };
  for (const tenant of suite.tenants) await store.tenants.create(tenant, context);
  for (const override of suite.overrides) await store.overrides.set(override, context);
}

/** A store the cases run against, opened empty with a clock of the test's choosing. */
export interface CaseStore {
  readonly name: string;
  /** Why the store is not available here, if it is not. */
  readonly unavailable: string | undefined;
  open(clock: () => number): Promise<{ store: EntitleStore; close(): Promise<void> }>;
}

/** Every store implementation: SQLite always, PostgreSQL when DATABASE_URL is set (a schema of its own, dropped after). */
export function caseStores(): CaseStore[] {
  const url = process.env.DATABASE_URL;
  return [
    {
      name: 'SQLite',
      unavailable: undefined,
      async open(clock) {
        const store = SqliteStore.open({ path: ':memory:', clock });
        return { store, close: () => store.close() };
      },
    },
    {
      name: 'PostgreSQL',
      unavailable: url ? undefined : 'DATABASE_URL is not set',
      async open(clock) {
        const schema = `entitle_cases_${randomBytes(6).toString('hex')}`;
        const store = await PostgresStore.open({ url: url as string, schema, clock });
        return {
          store,
          async close() {
            await store.close();
            await dropSchema(url as string, schema);
          },
        };
      },
    },
  ];
}

/** The default value each evaluation passes: never a value a case expects. */
export const DEFAULTS: Readonly<Record<Exclude<FeatureType, 'meter'>, FlagValue>> = {
  boolean: false,
  number: -1,
  string: '',
};

/** Evaluates a case through an OpenFeature client, asking for the case's type. */
export function evaluateCase(client: Client, testCase: ResolutionCase): Promise<EvaluationDetails<FlagValue>> {
  const { flag, context } = testCase;
  switch (testCase.type) {
    case 'boolean':
      return client.getBooleanDetails(flag, false, context);
    case 'number':
      return client.getNumberDetails(flag, -1, context);
    default:
      return client.getStringDetails(flag, '', context);
  }
}

/**
 * The whole EvaluationDetails a case expects from any OpenFeature provider (in-process or
 * remote): on an error, the default value with the error code.
 */
export function expectedDetails(testCase: ResolutionCase, policyVersion: string): Record<string, unknown> {
  const { expected } = testCase;
  if (expected.errorCode) {
    return {
      flagKey: testCase.flag,
      value: DEFAULTS[testCase.type],
      reason: 'ERROR',
      errorCode: expected.errorCode,
      errorMessage: expect.any(String),
      flagMetadata: {},
    };
  }
  return {
    flagKey: testCase.flag,
    value: expected.value,
    variant: expected.variant,
    reason: expected.reason,
    flagMetadata: expect.objectContaining({ ...expected.metadata, policyVersion }),
  };
}
