// Every resolution case, against the pure resolver and through the real OpenFeature client.

import { OpenFeature, type EvaluationDetails, type FlagValue } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../src/entitlements/decide.js';
import { EntitleProvider } from '../../src/entitlements/entitle-provider.js';
import { TenantDirectory } from '../../src/entitlements/tenant-directory.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { TestPolicySource } from '../support/policy.js';
import { loadResolutionSuites, seedSuite, suitePolicy, type ResolutionCase } from '../support/resolution-cases.js';

async function evaluate(domain: string, testCase: ResolutionCase): Promise<EvaluationDetails<FlagValue>> {
  const client = OpenFeature.getClient(domain);
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

for (const suite of loadResolutionSuites()) {
  describe(`resolution cases: ${suite.file}`, () => {
    const now = Date.parse(suite.now);
    const domain = `cases-${suite.file}`;
    let store: SqliteStore;
    let directory: TenantDirectory;

    beforeAll(async () => {
      store = SqliteStore.open({ path: ':memory:', clock: () => now - 60_000 });
      await seedSuite(store, suite);
      directory = await TenantDirectory.open(store);
      const provider = new EntitleProvider({ policy: new TestPolicySource(await suitePolicy(suite)), tenants: directory, clock: () => now });
      await OpenFeature.setProviderAndWait(domain, provider);
    });

    afterAll(async () => {
      directory.close();
      await store.close();
    });

    for (const testCase of suite.cases) {
      // A missing tenantId is the provider's to report: the resolver is only ever given a tenant.
      if (testCase.expected.errorCode !== 'INVALID_CONTEXT')
        it(`resolver: ${testCase.name}`, async () => {
        const decision = decide(await suitePolicy(suite), directory.get(testCase.context.tenantId ?? ''), testCase.flag, now);
        const { expected } = testCase;
        if (expected.errorCode === 'FLAG_NOT_FOUND') {
          expect(decision).toBeUndefined();
          return;
        }
        if (expected.errorCode === 'TYPE_MISMATCH') {
          expect(decision?.feature.type).not.toBe(testCase.type);
          return;
        }
        expect(decision).toMatchObject({
          value: expected.value,
          ...(expected.variant ? { variant: expected.variant } : {}),
          ...(expected.reason ? { reason: expected.reason } : {}),
          ...(expected.metadata ? { metadata: expect.objectContaining(expected.metadata) } : {}),
        });
      });

      it(`provider: ${testCase.name}`, async () => {
        const details = await evaluate(domain, testCase);
        const { expected } = testCase;
        if (expected.errorCode) {
          expect(details).toMatchObject({ errorCode: expected.errorCode, reason: 'ERROR' });
          return;
        }
        expect(details.errorCode).toBeUndefined();
        expect(details).toMatchObject({
          flagKey: testCase.flag,
          value: expected.value,
          ...(expected.variant ? { variant: expected.variant } : {}),
          ...(expected.reason ? { reason: expected.reason } : {}),
          ...(expected.metadata ? { flagMetadata: expect.objectContaining(expected.metadata) } : {}),
        });
      });
    }
  });
}
