// Webhook endpoints: where events go, which types each wants, its signing secret(s) and whether
// it is enabled. Each change is audited in its transaction; the secrets never reach the audit log.

import { withRequest } from '../audit-events.js';
import type { SqlExecutor } from '../sql-port.js';
import type { AuditEvent, WriteContext } from '../store.js';
import type { StoreContext } from './store-context.js';

export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly events: readonly string[];
  readonly description: string;
  /** When set, the secret before the last rotation, which signs beside the new one until then. */
  readonly previousSecretUntil: string | null;
  readonly disabledAt: string | null;
  readonly disabledReason: string | null;
  /** Deliveries failed in a row (after their whole schedule) since the last one delivered. */
  readonly failureStreak: number;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NewWebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly events: readonly string[];
  readonly description: string;
  /** The signing secret as sealed by the token cipher (never the whsec_ text). */
  readonly secret: string;
}

export interface WebhookEndpointChange {
  readonly url?: string;
  readonly events?: readonly string[];
  readonly description?: string;
  /** false disables, true enables again (and forgets the failure streak). */
  readonly enabled?: boolean;
}

interface EndpointRow {
  id: string;
  url: string;
  events: string;
  description: string;
  previous_secret_until: string | null;
  disabled_at: string | null;
  disabled_reason: string | null;
  failure_streak: number;
  created_by: string;
  created_at: string;
  updated_at: string;
  [column: string]: unknown;
}

function endpointFromRow(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as string[],
    description: row.description,
    previousSecretUntil: row.previous_secret_until,
    disabledAt: row.disabled_at,
    disabledReason: row.disabled_reason,
    failureStreak: Number(row.failure_streak),
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const COLUMNS =
  'id, url, events, description, previous_secret_until, disabled_at, disabled_reason, failure_streak, created_by, created_at, updated_at';

function audit(context: WriteContext, action: string, id: string, details: Record<string, unknown>): AuditEvent {
  return {
    actor: context.actor,
    tenantId: null,
    action,
    target: `webhook:${id}`,
    outcome: 'success',
    details: withRequest(context, details),
  };
}

async function find(db: SqlExecutor, id: string): Promise<WebhookEndpoint | undefined> {
  const row = await db.get<EndpointRow>(`SELECT ${COLUMNS} FROM webhook_endpoints WHERE id = $1`, [id]);
  return row ? endpointFromRow(row) : undefined;
}

export class WebhookEndpointStore {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Adds an endpoint unless its creator already has `maxPerCreator` (returns undefined then):
   * the count and the insert are one transaction.
   */
  create(
    input: NewWebhookEndpoint,
    context: WriteContext,
    maxPerCreator: number,
  ): Promise<WebhookEndpoint | undefined> {
    return this.ctx.write(
      async (tx) => {
        const held = await tx.get<{ n: number }>('SELECT count(*) AS n FROM webhook_endpoints WHERE created_by = $1', [
          context.actor,
        ]);
        if (Number(held?.n ?? 0) >= maxPerCreator) return undefined;
        const now = this.ctx.nowIso();
        // The creation's audit row: the endpoint gets the events of every change after it.
        const [created] = await this.ctx.appendAudit(tx, [
          audit(context, 'webhook.create', input.id, { url: input.url, events: input.events }),
        ]);
        await tx.run(
          `INSERT INTO webhook_endpoints (id, url, events, description, secret, failure_streak, created_by, created_at, updated_at, since_seq)
           VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $7, $8)`,
          [
            input.id,
            input.url,
            JSON.stringify(input.events),
            input.description,
            input.secret,
            context.actor,
            now,
            created?.seq ?? 0,
          ],
        );
        return find(tx, input.id);
      },
      { hooks: false },
    );
  }

  get(id: string): Promise<WebhookEndpoint | undefined> {
    return find(this.ctx.port, id);
  }

  async list(): Promise<readonly WebhookEndpoint[]> {
    const rows = await this.ctx.port.all<EndpointRow>(
      `SELECT ${COLUMNS} FROM webhook_endpoints ORDER BY created_at, id${this.ctx.port.sql.byteOrder}`,
    );
    return rows.map(endpointFromRow);
  }

  /** Changes an endpoint; undefined when there is none with this id. */
  update(id: string, change: WebhookEndpointChange, context: WriteContext): Promise<WebhookEndpoint | undefined> {
    return this.ctx.write(
      async (tx) => {
        const before = await find(tx, id);
        if (!before) return undefined;
        const now = this.ctx.nowIso();
        const enable = change.enabled === true && before.disabledAt !== null;
        const disable = change.enabled === false && before.disabledAt === null;
        await tx.run(
          `UPDATE webhook_endpoints SET url = $1, events = $2, description = $3, updated_at = $4,
             disabled_at = $5, disabled_reason = $6, failure_streak = $7 WHERE id = $8`,
          [
            change.url ?? before.url,
            JSON.stringify(change.events ?? before.events),
            change.description ?? before.description,
            now,
            enable ? null : disable ? now : before.disabledAt,
            enable ? null : disable ? `disabled by ${context.actor}` : before.disabledReason,
            enable ? 0 : before.failureStreak,
            id,
          ],
        );
        const after = (await find(tx, id)) as WebhookEndpoint;
        await this.ctx.appendAudit(tx, [
          audit(context, 'webhook.update', id, {
            before: { url: before.url, events: before.events, enabled: before.disabledAt === null },
            after: { url: after.url, events: after.events, enabled: after.disabledAt === null },
          }),
        ]);
        return after;
      },
      { hooks: false },
    );
  }

  /** Removes an endpoint with its deliveries; false when there is none. */
  delete(id: string, context: WriteContext): Promise<boolean> {
    return this.ctx.write(
      async (tx) => {
        const before = await find(tx, id);
        if (!before) return false;
        await tx.run('DELETE FROM webhook_endpoints WHERE id = $1', [id]);
        await this.ctx.appendAudit(tx, [audit(context, 'webhook.delete', id, { url: before.url })]);
        return true;
      },
      { hooks: false },
    );
  }

  /** A new signing secret; the old one keeps signing beside it until `previousUntil`. */
  rotateSecret(
    id: string,
    /** Sealed, as in {@link NewWebhookEndpoint.secret}. */
    secret: string,
    previousUntil: string,
    context: WriteContext,
  ): Promise<WebhookEndpoint | undefined> {
    return this.ctx.write(
      async (tx) => {
        const changed = await tx.run(
          `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $1, secret = $2, updated_at = $3
           WHERE id = $4`,
          [previousUntil, secret, this.ctx.nowIso(), id],
        );
        if (changed.changes === 0) return undefined;
        await this.ctx.appendAudit(tx, [audit(context, 'webhook.rotate_secret', id, { previousUntil })]);
        return find(tx, id);
      },
      { hooks: false },
    );
  }
}
