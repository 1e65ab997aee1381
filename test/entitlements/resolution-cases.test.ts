// Every resolution case, against the pure resolver and through the real OpenFeature client, on
// every store: SQLite always, PostgreSQL when DATABASE_URL is set. (OFREP and Unleash: test/interop.)

import { OpenFeature } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../src/entitlements/decide.js';
import { EntitleProvider } from '../../src/entitlements/entitle-provider.js';
import { TenantDirectory } from '../../src/entitlements/tenant-directory.js';
import type { PolicySnapshot } from '../../src/policy/types.js';
import { TestPolicySource } from '../support/policy.js';
import {
  caseStores,
  evaluateCase,
  expectedDetails,
  loadResolutionSuites,
  seedSuite,
  suitePolicy,
} from '../support/resolution-cases.js';

for (const caseStore of caseStores()) {
  describe.skipIf(caseStore.unavailable !== undefined)(`resolution cases on ${caseStore.name}`, () => {
    for (const suite of loadResolutionSuites()) {
      describe(suite.file, () => {
        const now = Date.parse(suite.now);
        const domain = `cases-${caseStore.name}-${suite.file}`;
        let opened: Awaited<ReturnType<typeof caseStore.open>>;
        let directory: TenantDirectory;
        let policy: PolicySnapshot;

        beforeAll(async () => {
          // Written a minute before the cases' time, so an override may expire exactly at it.
          opened = await caseStore.open(() => now - 60_000);
          await seedSuite(opened.store, suite);
          directory = await TenantDirectory.open(opened.store);
          policy = await suitePolicy(suite);
          await OpenFeature.setProviderAndWait(
            domain,
            new EntitleProvider({ policy: new TestPolicySource(policy), tenants: directory, clock: () => now }),
          );
        });

        afterAll(async () => {
          await OpenFeature.clearProviders();
          directory?.close();
          await opened?.close();
        });

        for (const testCase of suite.cases) {
          const { expected } = testCase;
          // A missing tenantId is the provider's to report: the resolver is only ever given a tenant.
          if (expected.errorCode !== 'INVALID_CONTEXT') {
            it(`resolver: ${testCase.name}`, async () => {
              const tenant = await directory.load(testCase.context.tenantId ?? '');
              const decision = decide(policy, tenant, testCase.flag, now);
              if (expected.errorCode === 'FLAG_NOT_FOUND') {
                expect(decision).toBeUndefined();
                return;
              }
              if (expected.errorCode === 'TYPE_MISMATCH') {
                // The resolver decides the feature as the type the policy gives it; that value is
                // not of the type asked for, which the provider reports as TYPE_MISMATCH.
                expect(decision?.feature.key).toBe(testCase.flag);
                expect(typeof decision?.value).toBe(decision?.feature.type);
                expect(typeof decision?.value).not.toBe(testCase.type);
                return;
              }
              expect({
                value: decision?.value,
                variant: decision?.variant,
                reason: decision?.reason,
                metadata: decision?.metadata,
              }).toEqual({
                value: expected.value,
                variant: expected.variant,
                reason: expected.reason,
                metadata: expect.objectContaining({ ...expected.metadata, policyVersion: policy.version }),
              });
            });
          }

          it(`provider: ${testCase.name}`, async () => {
            const details = await evaluateCase(OpenFeature.getClient(domain), testCase);
            expect(details).toEqual(expectedDetails(testCase, policy.version));
          });
        }
      });
    }
  });
}
