// Turning the audit log into webhook events. A write's audit rows are its outbox: they commit with
// the change or not at all, and the write does nothing more for webhooks. The delivery worker
// reads the rows after a cursor, has the domain describe them (webhook-events.ts), and writes the
// events, their per-tenant sequence numbers and a delivery per subscribed endpoint, moving the
// cursor in the same transaction: writes are serialized, so with several instances each audit
// row becomes events once, and a crash before the commit leaves the cursor where it was.
//
// Who gets an event: every enabled endpoint subscribed to its type whose creation's audit row
// (`since_seq`) comes before the change's audit row. Audit rows are numbered in commit order, so a
// change racing an endpoint's creation is either before it (not sent) or after it (sent), never
// lost in between. A change to an endpoint's event list or enabled state applies from when the
// worker reads the change (normally within milliseconds of its commit).

import { createHash, randomBytes } from 'node:crypto';
import type { SqlExecutor } from '../sql-port.js';
import type { AuditRecord, TenantSnapshot } from '../store.js';
import { loadTenantSnapshot } from './change-feed.js';
import { auditRecordFromRow, type AuditRow } from './rows.js';
import type { StoreContext } from './store-context.js';

/** An event as the domain describes it; the outbox adds its id, sequence and timestamp. */
export interface OutboxEventDraft {
  readonly type: string;
  readonly tenantId: string;
  /** The fields of `data` besides tenantId and sequence. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** A described event with the audit row it comes from. */
export interface AuditEventDraft extends OutboxEventDraft {
  readonly auditSeq: number;
}

/** What a describer may read, in the worker's transaction (consistent with the audit rows it is given). */
export interface OutboxReader {
  /** The tenant as it is now (after the records given and {@link later}); undefined once deleted. */
  tenant(tenantId: string): Promise<TenantSnapshot | undefined>;
  /** The tenant's audit rows after the ones given, oldest first: walked back, they give the state at each row. */
  later(tenantId: string): Promise<readonly AuditRecord[]>;
  readonly now: string;
}

/**
 * Turns audit records into events (the domain's rules, given to the store): `types` are the
 * event types some enabled endpoint wants, so nothing else need be built.
 */
export type OutboxDescriber = (
  records: readonly AuditRecord[],
  reader: OutboxReader,
  types: ReadonlySet<string>,
) => Promise<readonly AuditEventDraft[]>;

interface Subscriber {
  readonly id: string;
  readonly events: ReadonlySet<string>;
  readonly since: number;
}

/** An id with a prefix and 16 random bytes (base64url). */
export function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

async function subscribers(db: SqlExecutor): Promise<Subscriber[]> {
  const rows = await db.all<{ id: string; events: string; since_seq: number }>(
    'SELECT id, events, since_seq FROM webhook_endpoints WHERE disabled_at IS NULL',
  );
  return rows.map((row) => ({
    id: row.id,
    events: new Set(JSON.parse(row.events) as string[]),
    since: Number(row.since_seq),
  }));
}

/** What one look at the audit log did. */
export interface FanOutResult {
  /** Events written. */
  readonly events: number;
  /** Whether audit rows were left for the next look (the batch was full). */
  readonly more: boolean;
  /** Whether an enabled endpoint exists. */
  readonly subscribed: boolean;
}

const NOTHING: FanOutResult = { events: 0, more: false, subscribed: false };

/**
 * Describes up to `limit` audit rows after the cursor and writes their events. Looks first
 * without taking the write lock: with no enabled endpoint, or no new audit row, nothing is written.
 */
export async function fanOut(ctx: StoreContext, describe: OutboxDescriber, limit: number): Promise<FanOutResult> {
  const look = await ctx.port.get<{ fanned: number; newest: number | null; enabled: number }>(
    `SELECT (SELECT audit_seq FROM webhook_fanout WHERE id = 1) AS fanned, (SELECT max(seq) FROM audit_log) AS newest,
       (SELECT count(*) FROM webhook_endpoints WHERE disabled_at IS NULL) AS enabled`,
  );
  if (!look || Number(look.enabled) === 0) return NOTHING;
  if (look.newest === null || Number(look.newest) <= Number(look.fanned)) return { ...NOTHING, subscribed: true };
  return ctx.write(
    async (tx) => {
      const cursor = Number((await tx.get<{ seq: number }>('SELECT audit_seq AS seq FROM webhook_fanout'))?.seq ?? 0);
      const endpoints = await subscribers(tx);
      if (endpoints.length === 0) return NOTHING;
      // Rows before every endpoint's creation concern none of them.
      const from = Math.max(cursor, Math.min(...endpoints.map((endpoint) => endpoint.since)));
      const rows = await tx.all<AuditRow>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [
        from,
        limit,
      ]);
      const last = rows.at(-1);
      if (!last) {
        if (from > cursor) await tx.run('UPDATE webhook_fanout SET audit_seq = $1', [from]);
        return { ...NOTHING, subscribed: true };
      }
      const more = rows.length === limit;
      const records = rows
        .map(auditRecordFromRow)
        .filter((record) => record.tenantId !== null && record.outcome === 'success');
      const types = new Set(endpoints.flatMap((endpoint) => [...endpoint.events]));
      const lastSeq = Number(last.seq);
      const drafts = await describe(
        records,
        {
          now: ctx.nowIso(),
          tenant: (tenantId) => loadTenantSnapshot(tx, tenantId),
          // A batch that reached the end of the log has nothing after it (writes are serialized).
          later: async (tenantId) =>
            more
              ? (
                  await tx.all<AuditRow>('SELECT * FROM audit_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq', [
                    tenantId,
                    lastSeq,
                  ])
                ).map(auditRecordFromRow)
              : [],
        },
        types,
      );
      const at = new Map(records.map((record) => [record.seq, record.at]));
      let events = 0;
      for (const draft of drafts) {
        const subscribed = endpoints.filter(
          (endpoint) => endpoint.events.has(draft.type) && endpoint.since < draft.auditSeq,
        );
        if (subscribed.length === 0) continue;
        await insertEvent(tx, draft, at.get(draft.auditSeq) ?? ctx.nowIso(), ctx.nowIso(), subscribed);
        events++;
      }
      await tx.run('UPDATE webhook_fanout SET audit_seq = $1', [lastSeq]);
      return { events, more, subscribed: true };
    },
    { hooks: false },
  );
}

/**
 * Records events of changes that have no write of their own (an override reaching its expiry),
 * once each: `key` names the occurrence and gives the event its id, so whichever instance
 * notices first records it and the others find it there. Returns how many were new.
 */
export function recordOnce(
  ctx: StoreContext,
  drafts: readonly (OutboxEventDraft & { readonly key: string })[],
): Promise<number> {
  return ctx.write(
    async (tx) => {
      const endpoints = await subscribers(tx);
      const now = ctx.nowIso();
      let recorded = 0;
      for (const draft of drafts) {
        const subscribed = endpoints.filter((endpoint) => endpoint.events.has(draft.type));
        if (subscribed.length === 0) continue;
        const id = `msg_${createHash('sha256').update(draft.key).digest('base64url').slice(0, 22)}`;
        if (await tx.get('SELECT 1 AS found FROM webhook_events WHERE id = $1', [id])) continue;
        await insertEvent(tx, draft, now, now, subscribed, id);
        recorded++;
      }
      return recorded;
    },
    { hooks: false },
  );
}

/** An event (next in its tenant's sequence, stamped `at`) and a pending delivery to each endpoint. */
async function insertEvent(
  tx: SqlExecutor,
  draft: OutboxEventDraft,
  at: string,
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
    timestamp: at,
    data: { tenantId: draft.tenantId, sequence, ...draft.data },
  });
  await tx.run(
    'INSERT INTO webhook_events (id, tenant_id, type, sequence, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
    [id, draft.tenantId, draft.type, sequence, payload, at],
  );
  for (const endpoint of endpoints)
    await tx.run(
      `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
       VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4)`,
      [randomId('dlv'), id, endpoint.id, now],
    );
}
