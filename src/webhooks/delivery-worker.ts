// The delivery worker: turns new audit rows into events and deliveries (the outbox's fan-out, one
// instance at a time), claims due deliveries (a lease, so each is sent by one instance), sends
// them signed, and records each attempt: delivered on a 2xx, retried on the schedule (with
// jitter), failed after it; a 410 disables the endpoint. Woken by this process's writes, and
// by a timer for retries and for other instances' writes.

import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import { TokenDecryptionError, type TokenCipher } from '../secrets/token-crypto.js';
import type { AttemptResult, ClaimedDelivery, WebhookOutboxStore } from '../store/repositories/webhook-outbox.js';
import type { WebhookTargets } from './safe-target.js';
import { openSigningSecret, signedHeaders } from './webhook-signing.js';
import { ATTEMPT_TIMEOUT_MS, sendWebhook, type AttemptOutcome } from './webhook-sender.js';

export type DeliveryOutcome = 'delivered' | 'retry' | 'failed' | 'gone';

export interface DeliveryWorkerOptions {
  readonly outbox: Pick<WebhookOutboxStore, 'fanOut' | 'claim' | 'completeAll' | 'nextDue' | 'onRecorded'>;
  readonly clock: () => number;
  readonly logger: Logger;
  /** Delay before each retry (ms); after the last, a delivery has failed. */
  readonly retryScheduleMs: readonly number[];
  readonly allowPrivate: boolean;
  /** Failed deliveries in a row that disable an endpoint. */
  readonly disableAfter: number;
  /** Opens the endpoints' sealed signing secrets. */
  readonly cipher: TokenCipher;
  /** After each attempt (metrics). */
  readonly onAttempt?: (outcome: DeliveryOutcome) => void;
  /** Longest wait between looks at the outbox (other instances' events, lapsed leases). Default 1 s. */
  readonly pollMs?: number;
  /** How long a write's wake waits for more writes, to read and send them together (ms). Default 5. */
  readonly gatherMs?: number;
  /** Deliveries claimed at once. Default 20. */
  readonly batch?: number;
  /** How long an attempt waits for an answer. Default ATTEMPT_TIMEOUT_MS (10 s). */
  readonly attemptTimeoutMs?: number;
  /** How long a claim holds: an attempt's timeout and a 5 s margin; a crashed sender's claims lapse after it. */
  readonly leaseMs?: number;
  /** How target hosts resolve (default: the system's DNS; tests give names that reach nothing). */
  readonly targets?: WebhookTargets;
  /** Sends one attempt (tests may watch it); default: sendWebhook. */
  readonly send?: typeof sendWebhook;
}

/** The retry delay for the attempt after `failures` failed ones, ±10 % jitter; undefined when the schedule is used up. */
export function retryDelayMs(
  schedule: readonly number[],
  failures: number,
  random: () => number = Math.random,
): number | undefined {
  const base = schedule[failures - 1];
  if (base === undefined) return undefined;
  return Math.round(base * (0.9 + 0.2 * random()));
}

export class DeliveryWorker {
  readonly holder = `worker-${randomUUID()}`;
  #timer: NodeJS.Timeout | undefined;
  #soonTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #unsubscribe: (() => void) | undefined;

  constructor(private readonly options: DeliveryWorkerOptions) {}

  start(): void {
    if (this.#unsubscribe || this.#closed) return;
    this.#unsubscribe = this.options.outbox.onRecorded(() => this.#soon());
    this.wake();
  }

  /** Wakes after a short pause, so a burst of writes is read and sent as one batch. */
  #soon(): void {
    if (this.#closed || this.#soonTimer) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#soonTimer = setTimeout(() => {
      this.#soonTimer = undefined;
      this.wake();
    }, this.options.gatherMs ?? 5);
    this.#soonTimer.unref();
  }

  /** Looks at the outbox now (or right after the look in progress). */
  wake(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.wake();
      } else void this.#schedule();
    });
  }

  /** Stops taking work; waits for attempts in progress to be recorded. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
    clearTimeout(this.#soonTimer);
    await this.#running;
  }

  async #drain(): Promise<void> {
    const { outbox, logger, batch = 20, attemptTimeoutMs = ATTEMPT_TIMEOUT_MS } = this.options;
    const leaseMs = this.options.leaseMs ?? attemptTimeoutMs + 5000;
    try {
      while (!this.#closed) {
        const fanned = await outbox.fanOut();
        const claimed = await outbox.claim(this.holder, batch, leaseMs);
        if (claimed.length === 0 && !fanned.more) return;
        const attempts = await Promise.all(claimed.map((delivery) => this.#attempt(delivery)));
        await outbox.completeAll(this.holder, attempts, this.options.disableAfter);
        for (const { result } of attempts) this.options.onAttempt?.(result.outcome);
      }
    } catch (error) {
      logger.warn({ err: error }, 'webhook deliveries could not be read or recorded; retrying shortly');
    }
  }

  async #schedule(): Promise<void> {
    if (this.#closed) return;
    const pollMs = this.options.pollMs ?? 1000;
    let wait = pollMs;
    try {
      const due = await this.options.outbox.nextDue();
      if (due !== null) wait = Math.min(pollMs, Math.max(0, Date.parse(due) - this.options.clock()));
    } catch {
      // the store is out of reach: look again after the poll interval
    }
    if (this.#closed || this.#running) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.wake(), wait);
    this.#timer.unref();
  }

  /** Sends one attempt and says what it came to; the batch's attempts are recorded together. */
  async #attempt(delivery: ClaimedDelivery): Promise<{ delivery: ClaimedDelivery; result: AttemptResult }> {
    const { clock, retryScheduleMs, allowPrivate, cipher, send = sendWebhook } = this.options;
    const timeoutMs = this.options.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS;
    {
      const now = clock();
      const { endpoint } = delivery;
      const sealed = [endpoint.secret];
      if (endpoint.previousSecret && endpoint.previousSecretUntil && Date.parse(endpoint.previousSecretUntil) > now)
        sealed.push(endpoint.previousSecret);
      let secrets: string[] | undefined;
      let unopened: string | undefined;
      try {
        secrets = sealed.map((each) => openSigningSecret(cipher, endpoint.id, each));
      } catch (error) {
        if (!(error instanceof TokenDecryptionError)) throw error;
        unopened = `the signing secret does not decrypt: ${error.message}`;
      }
      // A secret the configured keys cannot open fails the attempt (retried: the key may come back).
      const result: AttemptOutcome = secrets
        ? await send({
            url: endpoint.url,
            headers: signedHeaders(secrets, delivery.eventId, now, delivery.payload),
            body: delivery.payload,
            allowPrivate,
            timeoutMs,
            ...(this.options.targets ? { targets: this.options.targets } : {}),
          })
        : { status: null, error: unopened ?? null, latencyMs: 0 };
      const at = clock();
      let outcome: DeliveryOutcome;
      let nextAttemptAt: string | undefined;
      if (result.status !== null && result.status >= 200 && result.status < 300) outcome = 'delivered';
      else if (result.status === 410) outcome = 'gone';
      else {
        const delay = retryDelayMs(retryScheduleMs, delivery.attempts + 1);
        outcome = delay === undefined ? 'failed' : 'retry';
        if (delay !== undefined) nextAttemptAt = new Date(at + delay).toISOString();
      }
      return {
        delivery,
        result: {
          at: new Date(at).toISOString(),
          status: result.status,
          error: result.error,
          latencyMs: result.latencyMs,
          outcome,
          ...(nextAttemptAt ? { nextAttemptAt } : {}),
        },
      };
    }
  }
}
