// The webhook outbox: events made from the audit log by the worker (webhook-fanout.ts), claimed
// under a lease by one instance's worker, each attempt recorded (webhook-delivery-log.ts), and
// replays. The endpoints themselves are in webhook-endpoints.ts.

import type { Page } from '../store.js';
import type { StoreContext } from './store-context.js';
import {
  findDelivery,
  listAttempts,
  listDeliveries,
  recordAttempt,
  type AttemptResult,
  type DeliveryStatus,
  type WebhookAttempt,
  type WebhookDelivery,
} from './webhook-delivery-log.js';
import {
  fanOut,
  recordOnce,
  type FanOutResult,
  type OutboxDescriber,
  type OutboxEventDraft,
} from './webhook-fanout.js';

export type {
  AuditEventDraft,
  FanOutResult,
  OutboxDescriber,
  OutboxEventDraft,
  OutboxReader,
} from './webhook-fanout.js';
export type {
  AttemptOutcome,
  AttemptResult,
  DeliveryStatus,
  WebhookAttempt,
  WebhookDelivery,
} from './webhook-delivery-log.js';
export { randomId } from './webhook-fanout.js';

/** A delivery a worker holds the lease of, with what it needs to send it. */
export interface ClaimedDelivery {
  readonly id: string;
  readonly eventId: string;
  readonly payload: string;
  readonly createdAt: string;
  /** Attempts made before this one. */
  readonly attempts: number;
  readonly endpoint: {
    readonly id: string;
    readonly url: string;
    /** Sealed signing secrets: the sender opens them with the token cipher. */
    readonly secret: string;
    readonly previousSecret: string | null;
    readonly previousSecretUntil: string | null;
  };
}

export class WebhookOutboxStore {
  #describe: OutboxDescriber | undefined;
  readonly #recorded = new Set<() => void>();
  /** Whether an enabled endpoint was seen last: only then do this process's writes wake the worker. */
  #subscribed = true;

  constructor(private readonly ctx: StoreContext) {
    ctx.onAudit((records) => {
      // An endpoint change here is seen at once; another process's within the worker's poll.
      if (records.some((record) => record.action.startsWith('webhook.'))) this.#subscribed = true;
      if (this.#subscribed && records.some((record) => record.tenantId !== null && record.outcome === 'success'))
        this.#notify();
    });
  }

  /** Sets the domain's rules that turn audit records into events (services.ts does, at open). */
  describeWith(describe: OutboxDescriber): void {
    this.#describe = describe;
  }

  /** Calls `listener` after a write of this process appended audit rows that may be events (the worker wakes). */
  onRecorded(listener: () => void): () => void {
    this.#recorded.add(listener);
    return () => this.#recorded.delete(listener);
  }

  #notify(): void {
    if (this.#recorded.size > 0) queueMicrotask(() => this.#recorded.forEach((listener) => listener()));
  }

  /**
   * Turns up to `limit` audit rows after the cursor into events and deliveries, in one write
   * (see webhook-fanout.ts). Nothing is written when no endpoint is enabled or no row is new.
   */
  async fanOut(limit = 200): Promise<FanOutResult> {
    if (!this.#describe) return { events: 0, more: false, subscribed: false };
    const result = await fanOut(this.ctx, this.#describe, limit);
    this.#subscribed = result.subscribed;
    return result;
  }

  /**
   * Records events of changes that have no write of their own (an override reaching its
   * expiry), once each: `key` names the occurrence and gives the event its id, so whichever
   * instance notices first records it and the others find it there. Returns how many were new.
   */
  async recordOnce(drafts: readonly (OutboxEventDraft & { readonly key: string })[]): Promise<number> {
    if (drafts.length === 0) return 0;
    const recorded = await recordOnce(this.ctx, drafts);
    if (recorded > 0) this.#recorded.forEach((listener) => listener());
    return recorded;
  }

  /**
   * Takes the lease of up to `limit` due deliveries to enabled endpoints for `leaseMs`. Writes
   * are serialized (SqlPort.write), so two instances never take the same delivery; a holder
   * that dies lets its lease lapse and another instance sends the delivery again.
   */
  async claim(holder: string, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    // A look without the write lock first: most wakes find nothing due.
    const due = await this.ctx.port.get(
      `SELECT 1 AS due FROM webhook_deliveries d JOIN webhook_endpoints p ON p.id = d.endpoint_id
       WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
         AND p.disabled_at IS NULL LIMIT 1`,
      [this.ctx.nowIso()],
    );
    if (!due) return [];
    return this.ctx.write(
      async (tx) => {
        const now = this.ctx.nowIso();
        const due = await tx.all<{ id: string }>(
          `SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints p ON p.id = d.endpoint_id
           WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
             AND p.disabled_at IS NULL
           ORDER BY d.next_attempt_at, d.created_at LIMIT $2`,
          [now, limit],
        );
        if (due.length === 0) return [];
        const ids = this.ctx.port.list(due.map((row) => row.id));
        const until = new Date(this.ctx.clock() + leaseMs).toISOString();
        await tx.run(
          `UPDATE webhook_deliveries SET lease_holder = $1, lease_until = $2 WHERE ${this.ctx.port.sql.inList('id', '$3')}`,
          [holder, until, ids],
        );
        const rows = await tx.all<Record<string, string | number | null>>(
          `SELECT d.id, d.event_id, d.attempts, e.payload, e.created_at, p.id AS endpoint_id, p.url, p.secret,
             p.previous_secret, p.previous_secret_until
           FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id JOIN webhook_endpoints p ON p.id = d.endpoint_id
           WHERE ${this.ctx.port.sql.inList('d.id', '$1')} ORDER BY d.next_attempt_at, d.created_at`,
          [ids],
        );
        return rows.map((row) => ({
          id: String(row.id),
          eventId: String(row.event_id),
          payload: String(row.payload),
          createdAt: String(row.created_at),
          attempts: Number(row.attempts),
          endpoint: {
            id: String(row.endpoint_id),
            url: String(row.url),
            secret: String(row.secret),
            previousSecret: row.previous_secret === null ? null : String(row.previous_secret),
            previousSecretUntil: row.previous_secret_until === null ? null : String(row.previous_secret_until),
          },
        }));
      },
      { hooks: false },
    );
  }

  /**
   * Records an attempt: the delivery's new state and the endpoint's failure streak. The endpoint
   * is disabled on a 410, or when `disableAfter` deliveries in a row have failed. Nothing is
   * recorded when `holder` lost the lease meanwhile (a replay, or a lease that lapsed): the
   * delivery is then another sender's, and is sent again.
   */
  complete(holder: string, delivery: ClaimedDelivery, result: AttemptResult, disableAfter: number): Promise<void> {
    return this.completeAll(holder, [{ delivery, result }], disableAfter);
  }

  /** Records several attempts (a claimed batch) in one write, each as {@link complete} says. */
  completeAll(
    holder: string,
    attempts: readonly { readonly delivery: ClaimedDelivery; readonly result: AttemptResult }[],
    disableAfter: number,
  ): Promise<void> {
    if (attempts.length === 0) return Promise.resolve();
    return this.ctx.write(
      async (tx) => {
        for (const { delivery, result } of attempts) await recordAttempt(tx, holder, delivery, result, disableAfter);
      },
      { hooks: false },
    );
  }

  /** Gives a lease back without an attempt (the worker is stopping). */
  release(deliveryIds: readonly string[]): Promise<void> {
    if (deliveryIds.length === 0) return Promise.resolve();
    return this.ctx.write(
      async (tx) => {
        await tx.run(
          `UPDATE webhook_deliveries SET lease_holder = NULL, lease_until = NULL WHERE ${this.ctx.port.sql.inList('id', '$1')}`,
          [this.ctx.port.list(deliveryIds)],
        );
      },
      { hooks: false },
    );
  }

  /** The delivery log of one endpoint, newest first. */
  deliveries(
    endpointId: string,
    options: { readonly status?: DeliveryStatus; readonly after?: string; readonly limit?: number } = {},
  ): Promise<Page<WebhookDelivery>> {
    return listDeliveries(this.ctx.port, endpointId, options);
  }

  delivery(endpointId: string, deliveryId: string): Promise<WebhookDelivery | undefined> {
    return findDelivery(this.ctx.port, endpointId, deliveryId);
  }

  /** The attempts kept of one delivery, newest first. */
  attempts(deliveryId: string): Promise<WebhookAttempt[]> {
    return listAttempts(this.ctx.port, deliveryId);
  }

  /**
   * Sends deliveries again from now, with a fresh schedule and the same webhook-id: one delivery,
   * or every delivery of the endpoint created in [from, to). At most `max` rows; returns how many.
   */
  replay(
    endpointId: string,
    which: { readonly deliveryId: string } | { readonly from: string; readonly to: string },
    max: number,
  ): Promise<number> {
    return this.ctx
      .write(
        async (tx) => {
          const now = this.ctx.nowIso();
          const set = `status = 'pending', attempts = 0, next_attempt_at = $1, lease_holder = NULL, lease_until = NULL, updated_at = $1`;
          if ('deliveryId' in which)
            return (
              await tx.run(`UPDATE webhook_deliveries SET ${set} WHERE endpoint_id = $2 AND id = $3`, [
                now,
                endpointId,
                which.deliveryId,
              ])
            ).changes;
          const ids = await tx.all<{ id: string }>(
            `SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND created_at >= $2 AND created_at < $3
           ORDER BY created_at LIMIT $4`,
            [endpointId, which.from, which.to, max],
          );
          if (ids.length === 0) return 0;
          return (
            await tx.run(`UPDATE webhook_deliveries SET ${set} WHERE ${this.ctx.port.sql.inList('id', '$2')}`, [
              now,
              this.ctx.port.list(ids.map((row) => row.id)),
            ])
          ).changes;
        },
        { hooks: false },
      )
      .then((count) => {
        if (count > 0) this.#recorded.forEach((listener) => listener());
        return count;
      });
  }

  /** Pending deliveries to enabled endpoints, and when the oldest of them was created. */
  async queue(): Promise<{ pending: number; oldestCreatedAt: string | null }> {
    const row = await this.ctx.port.get<{ pending: number; oldest: string | null }>(
      `SELECT count(*) AS pending, min(d.created_at) AS oldest FROM webhook_deliveries d
       JOIN webhook_endpoints p ON p.id = d.endpoint_id WHERE d.status = 'pending' AND p.disabled_at IS NULL`,
    );
    return { pending: Number(row?.pending ?? 0), oldestCreatedAt: row?.oldest ?? null };
  }

  /** The earliest time a pending delivery to an enabled endpoint is due, for the worker's timer. */
  async nextDue(): Promise<string | null> {
    const row = await this.ctx.port.get<{ due: string | null }>(
      `SELECT min(coalesce(d.lease_until, d.next_attempt_at)) AS due FROM webhook_deliveries d
       JOIN webhook_endpoints p ON p.id = d.endpoint_id WHERE d.status = 'pending' AND p.disabled_at IS NULL`,
    );
    return row?.due ?? null;
  }

  /**
   * Removes delivered deliveries updated before `before` (with their attempts), attempts made
   * before it of the deliveries that stay, and events left with no delivery.
   */
  prune(before: string): Promise<number> {
    return this.ctx.write(
      async (tx) => {
        const removed = (
          await tx.run("DELETE FROM webhook_deliveries WHERE status = 'delivered' AND updated_at < $1", [before])
        ).changes;
        await tx.run('DELETE FROM webhook_attempts WHERE at < $1', [before]);
        await tx.run(
          'DELETE FROM webhook_events WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)',
          [before],
        );
        return removed;
      },
      { hooks: false },
    );
  }
}
