// Apps with Stripe configured, a movable clock, and deliveries signed at the app's time.

import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildTestApp, type TestApp, type TestAppOptions } from './app.js';
import { seconds, signedDelivery, WEBHOOK_SECRET } from './stripe.js';

export const WEBHOOK_URL = '/api/billing/stripe/webhook';
export const DAY_MS = 86_400_000;

export interface BillingTestApp extends TestApp {
  /** The app's clock (ms); tests move it. */
  now: number;
  /** Delivers an event signed now (or at `timestamp`, in seconds). */
  deliver(
    event: Record<string, unknown>,
    options?: { secret?: string; timestamp?: number; app?: FastifyInstance },
  ): Promise<LightMyRequestResponse>;
}

export async function buildBillingApp(
  options: { env?: Record<string, string>; start?: number; logger?: TestAppOptions['logger'] } = {},
): Promise<BillingTestApp> {
  const state = { now: options.start ?? Date.parse('2026-11-30T05:00:00Z') };
  const t = await buildTestApp({
    env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, ...options.env },
    clock: () => state.now,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const deliver = (
    event: Record<string, unknown>,
    deliverOptions: { secret?: string; timestamp?: number; app?: FastifyInstance } = {},
  ) => {
    const { payload, headers } = signedDelivery(event, {
      timestamp: deliverOptions.timestamp ?? seconds(state.now),
      ...(deliverOptions.secret ? { secret: deliverOptions.secret } : {}),
    });
    return (deliverOptions.app ?? t.app).inject({ method: 'POST', url: WEBHOOK_URL, headers, payload });
  };
  // Accessors, not copied values: a test that sets `now` moves the app's clock.
  return Object.defineProperties(t, {
    now: { get: () => state.now, set: (value: number) => void (state.now = value), enumerable: true },
    deliver: { value: deliver },
  }) as BillingTestApp;
}
