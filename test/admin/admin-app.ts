// A fresh app per admin test, with an admin token and a clock the test moves.

import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach } from 'vitest';
import { buildTestApp, NO_RATE_LIMITS, type TestApp } from '../support/app.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface AdminApp {
  readonly t: TestApp;
  /** Headers of the admin token. */
  readonly admin: { authorization: string };
  /** The app's clock (ms); starts at 2030-01-01T00:00:00Z in every test. */
  now: number;
  /** app.inject as the admin. */
  inject(
    method: Method,
    url: string,
    payload?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
}

/** Registers beforeEach/afterEach; read the fields inside tests only. */
export function useAdminApp(): AdminApp {
  let t: TestApp | undefined;
  let admin: { authorization: string } | undefined;
  const harness: AdminApp = {
    get t() {
      return t as TestApp;
    },
    get admin() {
      return admin as { authorization: string };
    },
    now: 0,
    inject: (method, url, payload, headers = {}) =>
      (t as TestApp).app.inject({
        method,
        url,
        ...(payload === undefined ? {} : { payload: payload as object }),
        headers: { ...admin, ...headers },
      }),
  };
  beforeEach(async () => {
    harness.now = Date.parse('2030-01-01T00:00:00Z');
    t = await buildTestApp({ clock: () => harness.now, env: { ...NO_RATE_LIMITS } });
    admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
  });
  afterEach(() => t?.close());
  return harness;
}
