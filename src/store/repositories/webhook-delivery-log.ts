// The delivery log: each delivery of an endpoint with its last attempt, and each attempt of a
// delivery (status or error, latency, time), recorded with its effects on the delivery and the
// endpoint. Attempts are bounded: at most MAX_ATTEMPTS_KEPT per delivery (the oldest go first),
// and pruned with the audit retention (webhook-outbox.ts).

import type { SqlExecutor, SqlPort, SqlValue } from '../sql-port.js';
import type { Page } from '../store.js';
import { pageSize } from './store-context.js';
import { randomId } from './webhook-fanout.js';

/** Attempts kept per delivery: a schedule's worth and a few replays. */
export const MAX_ATTEMPTS_KEPT = 20;

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

/** What an attempt came to: delivered (2xx), retry later, failed (schedule used up), gone (410). */
export type AttemptOutcome = 'delivered' | 'retry' | 'failed' | 'gone';

/** One attempt of a delivery. */
export interface WebhookAttempt {
  readonly at: string;
  /** The receiver's HTTP status; null when no answer came (see error). */
  readonly status: number | null;
  readonly error: string | null;
  readonly latencyMs: number;
  readonly outcome: AttemptOutcome;
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

/** The delivery log of one endpoint, newest first. */
export async function listDeliveries(
  port: SqlPort,
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
  const { byteOrder } = port.sql;
  const rows = await port.all<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
     WHERE ${where.join(' AND ')} ORDER BY d.created_at DESC, d.id${byteOrder} DESC LIMIT $${params.push(limit + 1)}`,
    params,
  );
  const items = rows.slice(0, limit).map(deliveryFromRow);
  const last = items.at(-1);
  return rows.length > limit && last ? { items, nextCursor: encodeCursor(last.createdAt, last.id) } : { items };
}

export async function findDelivery(
  port: SqlPort,
  endpointId: string,
  deliveryId: string,
): Promise<WebhookDelivery | undefined> {
  const row = await port.get<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
     WHERE d.endpoint_id = $1 AND d.id = $2`,
    [endpointId, deliveryId],
  );
  return row ? deliveryFromRow(row) : undefined;
}

/** A delivery's attempts kept, newest first. */
export async function listAttempts(port: SqlPort, deliveryId: string): Promise<WebhookAttempt[]> {
  const rows = await port.all<{
    at: string;
    status: number | null;
    error: string | null;
    latency_ms: number;
    outcome: AttemptOutcome;
  }>(
    `SELECT at, status, error, latency_ms, outcome FROM webhook_attempts WHERE delivery_id = $1
     ORDER BY at DESC, id${port.sql.byteOrder} DESC`,
    [deliveryId],
  );
  return rows.map((row) => ({
    at: row.at,
    status: row.status === null ? null : Number(row.status),
    error: row.error,
    latencyMs: Number(row.latency_ms),
    outcome: row.outcome,
  }));
}

/** Logs an attempt, dropping the delivery's oldest beyond MAX_ATTEMPTS_KEPT. */
export async function logAttempt(
  tx: SqlExecutor,
  id: string,
  deliveryId: string,
  attempt: WebhookAttempt,
): Promise<void> {
  await tx.run(
    'INSERT INTO webhook_attempts (id, delivery_id, at, status, error, latency_ms, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [id, deliveryId, attempt.at, attempt.status, attempt.error, Math.round(attempt.latencyMs), attempt.outcome],
  );
  await tx.run(
    `DELETE FROM webhook_attempts WHERE delivery_id = $1 AND id NOT IN
       (SELECT id FROM webhook_attempts WHERE delivery_id = $1 ORDER BY at DESC, id DESC LIMIT $2)`,
    [deliveryId, MAX_ATTEMPTS_KEPT],
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

/** How one attempt went, as the worker reports it. */
export interface AttemptResult {
  readonly at: string;
  readonly status: number | null;
  readonly error: string | null;
  readonly latencyMs: number;
  /** delivered (2xx); retry at nextAttemptAt; failed (schedule used up); gone (410: disable the endpoint). */
  readonly outcome: AttemptOutcome;
  readonly nextAttemptAt?: string;
}

async function disable(tx: SqlExecutor, endpointId: string, reason: string, at: string): Promise<void> {
  await tx.run(
    'UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2, updated_at = $1 WHERE id = $3 AND disabled_at IS NULL',
    [at, reason, endpointId],
  );
}

/** One attempt's effects: the delivery's new state, its log row, and the endpoint's failure streak. */
export async function recordAttempt(
  tx: SqlExecutor,
  holder: string,
  delivery: { readonly id: string; readonly endpoint: { readonly id: string } },
  result: AttemptResult,
  disableAfter: number,
): Promise<void> {
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
  await logAttempt(tx, randomId('att'), delivery.id, {
    at: result.at,
    status: result.status,
    error: result.error,
    latencyMs: result.latencyMs,
    outcome: result.outcome,
  });
  const endpointId = delivery.endpoint.id;
  if (result.outcome === 'delivered')
    await tx.run('UPDATE webhook_endpoints SET failure_streak = 0 WHERE id = $1 AND failure_streak <> 0', [endpointId]);
  else if (result.outcome === 'gone') await disable(tx, endpointId, 'the receiver answered 410 Gone', result.at);
  else if (result.outcome === 'failed') {
    const row = await tx.get<{ failure_streak: number }>(
      'UPDATE webhook_endpoints SET failure_streak = failure_streak + 1 WHERE id = $1 RETURNING failure_streak',
      [endpointId],
    );
    if (row && Number(row.failure_streak) >= disableAfter)
      await disable(tx, endpointId, `${disableAfter} deliveries in a row failed`, result.at);
  }
}
