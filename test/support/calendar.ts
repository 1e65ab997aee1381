// Route tests against both fake providers: the real Google and Graph clients, an app whose
// provider URLs point at the fakes, and a helper that walks the whole OAuth flow.

import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { CalendarProviderName } from '../../src/calendar/calendar-client.js';
import { startFakeGoogle } from '../fakes/google-fake.js';
import { startFakeMicrosoft } from '../fakes/microsoft-fake.js';
import type { FakeProvider } from '../fakes/fake-provider.js';
import { buildTestApp, type TestApp, type TestAppOptions } from './app.js';

export const PROVIDERS: readonly CalendarProviderName[] = ['google', 'microsoft'];

export interface Fakes {
  readonly google: FakeProvider;
  readonly microsoft: FakeProvider;
  readonly env: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

export async function startFakes(): Promise<Fakes> {
  const [google, microsoft] = await Promise.all([startFakeGoogle(), startFakeMicrosoft()]);
  return {
    google,
    microsoft,
    env: { ...google.env, ...microsoft.env },
    close: async () => {
      await Promise.all([google.close(), microsoft.close()]);
    },
  };
}

/** An app wired to the fakes. */
export function buildCalendarApp(fakes: Fakes, options: TestAppOptions = {}): Promise<TestApp> {
  return buildTestApp({ ...options, env: { ...fakes.env, ...options.env } });
}

export interface CalendarApps {
  /** The fakes, started once before the file's (or describe block's) first test. */
  readonly fakes: Fakes;
  /** An app wired to the fakes; closed when the test that built it ends. */
  build(options?: TestAppOptions): Promise<TestApp>;
}

/**
 * Registers the hooks of tests that each build their own app against the fakes: the fakes live
 * for the whole file, every app a test builds is closed after that test (even when it failed).
 */
export function useCalendarApps(): CalendarApps {
  let fakes: Fakes | undefined;
  const open: TestApp[] = [];
  beforeAll(async () => {
    fakes = await startFakes();
  });
  afterAll(() => fakes?.close());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });
  const started = (): Fakes => {
    if (!fakes) throw new Error('the fakes start in beforeAll: use them inside a test or hook');
    return fakes;
  };
  return {
    get fakes() {
      return started();
    },
    async build(options) {
      const t = await buildCalendarApp(started(), options);
      open.push(t);
      return t;
    },
  };
}

/** Initiates, consents at the fake and calls back: returns the stored connection's id. */
export async function connectCalendar(
  t: TestApp,
  fake: FakeProvider,
  token: string,
  account: { email?: string } = {},
): Promise<string> {
  const initiated = await t.app.inject({
    method: 'POST',
    url: `/api/oauth/${fake.provider}/initiate/`,
    headers: t.auth(token),
    payload: { purpose: 'calendar' },
  });
  expect(initiated.statusCode, initiated.body).toBe(200);
  const { code, state } = fake.authorize(initiated.json().authorizationUrl, account);
  const callback = await t.app.inject({
    method: 'POST',
    url: `/api/oauth/${fake.provider}/callback/`,
    headers: t.auth(token),
    payload: { code, state },
  });
  expect([200, 201], callback.body).toContain(callback.statusCode);
  return callback.json().connection.id as string;
}
