// Every resolution case through OFREP: the real @openfeature/ofrep-provider asking a running app
// (on 127.0.0.1, port 0) must give the very EvaluationDetails the in-process provider gives.
// The app runs on the store buildTestApp chooses: SQLite, or PostgreSQL when DATABASE_URL is set.

import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';
import {
  evaluateCase,
  expectedDetails,
  loadResolutionSuites,
  seedSuite,
  suitePolicyDirectory,
} from '../support/resolution-cases.js';

for (const suite of loadResolutionSuites()) {
  describe(`resolution cases through OFREP: ${suite.file}`, () => {
    const casesAt = Date.parse(suite.now);
    // The app's clock: seeding a minute early, so an override may expire exactly at the cases' time.
    let now = casesAt - 60_000;
    const domain = `ofrep-cases-${suite.file}`;
    let t: TestApp;

    beforeAll(async () => {
      t = await buildTestApp({ clock: () => now, env: { ENTITLE_POLICIES: suitePolicyDirectory(suite) } });
      await seedSuite(t.app.entitle.store, suite);
      // An admin token may evaluate for any tenant, including ones the store does not know.
      const admin = await t.token('ofrep-cases-admin', 'olivia', { role: 'admin' });
      now = casesAt;
      const baseUrl = await t.app.listen({ host: '127.0.0.1', port: 0 });
      await OpenFeature.setProviderAndWait(
        domain,
        new OFREPProvider({ baseUrl, headers: { authorization: `Bearer ${admin}` } }),
      );
    });

    afterAll(async () => {
      await OpenFeature.clearProviders();
      await t?.close();
    });

    for (const testCase of suite.cases) {
      // OFREP takes the tenant from the bearer token when the context names none, so a context
      // without tenantId is never invalid there (ofrep.test.ts covers the protocol's own errors).
      it.skipIf(testCase.expected.errorCode === 'INVALID_CONTEXT')(testCase.name, async () => {
        const details = await evaluateCase(OpenFeature.getClient(domain), testCase);
        expect(details).toEqual(expectedDetails(testCase, t.app.entitle.policy.snapshot.version));
      });
    }
  });
}
