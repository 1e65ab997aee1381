// The webhook outbox: events written in the transaction of the change that causes them (one
// delivery row per subscribed endpoint), claimed under a lease by one instance's worker, and
// the delivery log with its replays. The endpoints themselves are in webhook-endpoints.ts.

import { createHash, randomBytes } from 'node:crypto';
import type { SqlExecutor, SqlValue } from '../sql-port.js';
import type { AuditRecord, Page, TenantSnapshot } from '../store.js';
import { loadTenantSnapshot } from './change-feed.js';
import type { StoreContext } from './store-context.js';
import { pageSize } from './store-context.js';

/** An event as the domain describes it; the outbox adds its id, sequence and timestamp. */
export interface OutboxEventDraft {
  readonly type: string;
  readonly tenantId: string;
  /** The fields of `data` besides tenantId and sequence. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** What a describer may read inside the causing write's transaction. */
export interface OutboxReader {
  /** The tenant as this transaction leaves it; undefined once deleted. */
  tenant(tenantId: string): Promise<TenantSnapshot | undefined>;
  readonly now: string;
}

/**
 * Turns a transaction's audit records into events (the domain's rules, given to the store):
 * `types` are the event types some enabled endpoint wants, so nothing else need be built.
 */
export type OutboxDescriber = (
  records: readonly AuditRecord[],
  reader: OutboxReader,
  types: ReadonlySet<string>,
) => Promise<readonly OutboxEventDraft[]>;

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One event's delivery to one endpoint, as the delivery log shows it. */
export interface WebhookDelivery {
  readonly id: string;
  readonly eventId: string;
  readonly endpointId: string;
  readonly type: string;
  readonly tenantId: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly lastLatencyMs: number | null;
  readonly lastAttemptAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

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

/** How one attempt went, as the worker reports it. */
export interface AttemptResult {
  readonly at: string;
  readonly status: number | null;
  readonly error: string | null;
  readonly latencyMs: number;
  /** delivered (2xx); retry at nextAttemptAt; failed (schedule used up); gone (410: disable the endpoint). */
  readonly outcome: 'delivered' | 'retry' | 'failed' | 'gone';
  readonly nextAttemptAt?: string;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  endpoint_id: string;
  type: string;
  tenant_id: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  last_latency_ms: number | null;
  last_attempt_at: string | null;
  created_at: string;
  updated_at: string;
  [column: string]: unknown;
}

const DELIVERY_COLUMNS = `d.id, d.event_id, d.endpoint_id, e.type, e.tenant_id, d.status, d.attempts, d.next_attempt_at,
  d.last_status, d.last_error, d.last_latency_ms, d.last_attempt_at, d.created_at, d.updated_at`;

function deliveryFromRow(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    eventId: row.event_id,
    endpointId: row.endpoint_id,
    type: row.type,
    tenantId: row.tenant_id,
    status: row.status,
    attempts: Number(row.attempts),
    nextAttemptAt: row.next_attempt_at,
    lastStatus: row.last_status === null ? null : Number(row.last_status),
    lastError: row.last_error,
    lastLatencyMs: row.last_latency_ms === null ? null : Number(row.last_latency_ms),
    lastAttemptAt: row.last_attempt_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** An id with a prefix and 16 random bytes (base32-ish, URL-safe). */
export function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

export class WebhookOutboxStore {
  #describe: OutboxDescriber | undefined;
  readonly #recorded = new Set<() => void>();

  constructor(private readonly ctx: StoreContext) {
    ctx.setOutbox((tx, records) => this.#record(tx, records));
  }

  /** Sets the domain's rules that turn audit records into events (services.ts does, at open). */
  describeWith(describe: OutboxDescriber): void {
    this.#describe = describe;
  }

  /** Calls `listener` after a write of this process put deliveries in the outbox (the worker wakes). */
  onRecorded(listener: () => void): () => void {
    this.#recorded.add(listener);
    return () => this.#recorded.delete(listener);
  }

  async #record(tx: SqlExecutor, records: readonly AuditRecord[]): Promise<void> {
    const describe = this.#describe;
    if (!describe || !records.some((record) => record.tenantId !== null && record.outcome === 'success')) return;
    const endpoints = (
      await tx.all<{ id: string; events: string }>('SELECT id, events FROM webhook_endpoints WHERE disabled_at IS NULL')
    ).map((row) => ({ id: row.id, events: new Set(JSON.parse(row.events) as string[]) }));
    if (endpoints.length === 0) return;
    const types = new Set(endpoints.flatMap((endpoint) => [...endpoint.events]));
    const now = this.ctx.nowIso();
    const drafts = await describe(records, { now, tenant: (tenantId) => loadTenantSnapshot(tx, tenantId) }, types);
    let recorded = false;
    for (const draft of drafts) {
      const subscribed = endpoints.filter((endpoint) => endpoint.events.has(draft.type));
      if (subscribed.length === 0) continue;
      await this.#insertEvent(tx, draft, now, subscribed);
      recorded = true;
    }
    if (recorded) queueMicrotask(() => this.#recorded.forEach((listener) => listener()));
  }

  /**
   * Records events of changes that have no write of their own (an override reaching its
   * expiry), once each: `key` names the occurrence and gives the event its id, so whichever
   * instance notices first records it and the others find it there. Returns how many were new.
   */
  recordOnce(drafts: readonly (OutboxEventDraft & { readonly key: string })[]): Promise<number> {
    if (drafts.length === 0) return Promise.resolve(0);
    return this.ctx
      .write(
        async (tx) => {
          const endpoints = (
            await tx.all<{ id: string; events: string }>(
              'SELECT id, events FROM webhook_endpoints WHERE disabled_at IS NULL',
            )
          ).map((row) => ({ id: row.id, events: new Set(JSON.parse(row.events) as string[]) }));
          const now = this.ctx.nowIso();
          let recorded = 0;
          for (const draft of drafts) {
            const subscribed = endpoints.filter((endpoint) => endpoint.events.has(draft.type));
            if (subscribed.length === 0) continue;
            const id = `msg_${createHash('sha256').update(draft.key).digest('base64url').slice(0, 22)}`;
            if (await tx.get('SELECT 1 AS found FROM webhook_events WHERE id = $1', [id])) continue;
            await this.#insertEvent(tx, draft, now, subscribed, id);
            recorded++;
          }
          return recorded;
        },
        { hooks: false },
      )
      .then((recorded) => {
        if (recorded > 0) this.#recorded.forEach((listener) => listener());
        return recorded;
      });
  }

  async #insertEvent(
    tx: SqlExecutor,
    draft: OutboxEventDraft,
    now: string,
    endpoints: readonly { id: string }[],
    id = randomId('msg'),
  ): Promise<void> {
    const sequence = Number(
      (
        await tx.get<{ sequence: number }>(
          `INSERT INTO webhook_sequences (tenant_id, sequence) VALUES ($1, 1)
           ON CONFLICT (tenant_id) DO UPDATE SET sequence = webhook_sequences.sequence + 1 RETURNING sequence`,
          [draft.tenantId],
        )
      )?.sequence,
    );
    const payload = JSON.stringify({
      type: draft.type,
      timestamp: now,
      data: { tenantId: draft.tenantId, sequence, ...draft.data },
    });
    await tx.run(
      'INSERT INTO webhook_events (id, tenant_id, type, sequence, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [id, draft.tenantId, draft.type, sequence, payload, now],
    );
    for (const endpoint of endpoints)
      await tx.run(
        `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4)`,
        [randomId('dlv'), id, endpoint.id, now],
      );
  }

  /**
   * Takes the lease of up to `limit` due deliveries to enabled endpoints for `leaseMs`. Writes
   * are serialized (SqlPort.write), so two instances never take the same delivery; a holder
   * that dies lets its lease lapse and another instance sends the delivery again.
   */
  claim(holder: string, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
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
    return this.ctx.write(
      async (tx) => {
        const status: DeliveryStatus =
          result.outcome === 'delivered' ? 'delivered' : result.outcome === 'retry' ? 'pending' : 'failed';
        const updated = await tx.run(
          `UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, lease_holder = NULL,
             lease_until = NULL, last_status = $3, last_error = $4, last_latency_ms = $5, last_attempt_at = $6, updated_at = $6
           WHERE id = $7 AND lease_holder = $8`,
          [
            status,
            status === 'pending' ? (result.nextAttemptAt ?? result.at) : null,
            result.status,
            result.error,
            Math.round(result.latencyMs),
            result.at,
            delivery.id,
            holder,
          ],
        );
        if (updated.changes === 0) return;
        const endpointId = delivery.endpoint.id;
        if (result.outcome === 'delivered')
          await tx.run('UPDATE webhook_endpoints SET failure_streak = 0 WHERE id = $1 AND failure_streak <> 0', [
            endpointId,
          ]);
        else if (result.outcome === 'gone') await disable(tx, endpointId, 'the receiver answered 410 Gone', result.at);
        else if (result.outcome === 'failed') {
          const row = await tx.get<{ failure_streak: number }>(
            'UPDATE webhook_endpoints SET failure_streak = failure_streak + 1 WHERE id = $1 RETURNING failure_streak',
            [endpointId],
          );
          if (row && Number(row.failure_streak) >= disableAfter)
            await disable(tx, endpointId, `${disableAfter} deliveries in a row failed`, result.at);
        }
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
  async deliveries(
    endpointId: string,
    options: { readonly status?: DeliveryStatus; readonly after?: string; readonly limit?: number } = {},
  ): Promise<Page<WebhookDelivery>> {
    const limit = pageSize(options.limit, 50, 500);
    const params: SqlValue[] = [endpointId];
    const where = ['d.endpoint_id = $1'];
    if (options.status) where.push(`d.status = $${params.push(options.status)}`);
    if (options.after) {
      const [at, id] = decodeCursor(options.after);
      where.push(
        `(d.created_at < $${params.push(at)} OR (d.created_at = $${params.length} AND d.id < $${params.push(id)}))`,
      );
    }
    const { byteOrder } = this.ctx.port.sql;
    const rows = await this.ctx.port.all<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
       WHERE ${where.join(' AND ')} ORDER BY d.created_at DESC, d.id${byteOrder} DESC LIMIT $${params.push(limit + 1)}`,
      params,
    );
    const items = rows.slice(0, limit).map(deliveryFromRow);
    const last = items.at(-1);
    return rows.length > limit && last ? { items, nextCursor: encodeCursor(last.createdAt, last.id) } : { items };
  }

  async delivery(endpointId: string, deliveryId: string): Promise<WebhookDelivery | undefined> {
    const row = await this.ctx.port.get<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
       WHERE d.endpoint_id = $1 AND d.id = $2`,
      [endpointId, deliveryId],
    );
    return row ? deliveryFromRow(row) : undefined;
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

  /** Removes delivered deliveries updated before `before`, and events left with no delivery. */
  prune(before: string): Promise<number> {
    return this.ctx.write(
      async (tx) => {
        const removed = (
          await tx.run("DELETE FROM webhook_deliveries WHERE status = 'delivered' AND updated_at < $1", [before])
        ).changes;
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

async function disable(tx: SqlExecutor, endpointId: string, reason: string, at: string): Promise<void> {
  await tx.run(
    'UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2, updated_at = $1 WHERE id = $3 AND disabled_at IS NULL',
    [at, reason, endpointId],
  );
}

function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    if (Array.isArray(parsed) && parsed.length === 2 && parsed.every((part) => typeof part === 'string'))
      return parsed as [string, string];
  } catch {
    // fall through: an unreadable cursor starts from the top
  }
  return ['\uffff', ''];
}
