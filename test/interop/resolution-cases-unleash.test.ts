// Every boolean resolution case through the real unleash-client, synchronized from a running app
// (on 127.0.0.1, port 0): `isEnabled` must give the case's value. Unleash toggles are booleans
// with no variant, reason or error code: number and string cases are not in its payload, and an
// error case must come out as "off" (deny), with no toggle at all for a feature that is not a
// boolean one. The app runs on SQLite, or PostgreSQL when DATABASE_URL is set.

import { InMemStorageProvider, Unleash, UnleashEvents } from 'unleash-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';
import {
  loadResolutionSuites,
  seedSuite,
  suitePolicyDirectory,
  type ResolutionCase,
} from '../support/resolution-cases.js';

/** The Unleash context of a case: tenantId is a custom property, targetingKey the user id. */
function unleashContext(testCase: ResolutionCase) {
  const { tenantId, targetingKey } = testCase.context;
  return { ...(targetingKey ? { userId: targetingKey } : {}), properties: tenantId === undefined ? {} : { tenantId } };
}

for (const suite of loadResolutionSuites()) {
  describe(`resolution cases through the Unleash client API: ${suite.file}`, () => {
    const casesAt = Date.parse(suite.now);
    // The app's clock: seeding a minute early, so an override may expire exactly at the cases'
    // time. The payload is built on the app's clock, so the client's real clock plays no part.
    let now = casesAt - 60_000;
    let t: TestApp;
    let client: Unleash;

    beforeAll(async () => {
      t = await buildTestApp({ clock: () => now, env: { ENTITLE_POLICIES: suitePolicyDirectory(suite) } });
      await seedSuite(t.app.entitle.store, suite);
      const admin = await t.token('unleash-cases-admin', 'olivia', { role: 'admin' });
      now = casesAt;
      const baseUrl = await t.app.listen({ host: '127.0.0.1', port: 0 });
      client = new Unleash({
        url: `${baseUrl}/api/`,
        appName: 'entitle-resolution-cases',
        refreshInterval: 60_000,
        metricsInterval: 60_000,
        customHeaders: { Authorization: `Bearer ${admin}` },
        storageProvider: new InMemStorageProvider(),
        skipInstanceCountWarning: true,
      });
      const synchronized = new Promise<void>((resolve, reject) => {
        client.once(UnleashEvents.Synchronized, () => resolve());
        client.once(UnleashEvents.Error, reject);
      });
      await synchronized;
      client.on(UnleashEvents.Error, () => undefined);
    });

    afterAll(async () => {
      client?.destroy();
      await t?.close();
    });

    for (const testCase of suite.cases.filter((c) => c.type === 'boolean')) {
      it(testCase.name, () => {
        const { expected } = testCase;
        const enabled = client.isEnabled(testCase.flag, unleashContext(testCase));
        if (expected.errorCode === undefined) {
          expect({ toggle: client.getFeatureToggleDefinition(testCase.flag)?.name, enabled }).toEqual({
            toggle: testCase.flag,
            enabled: expected.value,
          });
          return;
        }
        const feature = t.app.entitle.policy.snapshot.features.get(testCase.flag);
        expect({ toggle: client.getFeatureToggleDefinition(testCase.flag)?.name, enabled }).toEqual({
          toggle: feature?.type === 'boolean' ? testCase.flag : undefined,
          enabled: false,
        });
      });
    }
  });
}
