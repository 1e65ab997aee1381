// What every repository shares: the SQL port, the clock, the audit append (hash chain) and the
// hooks that run once a write has committed.

import { chainHash, GENESIS_HASH, serializeDetails } from '../audit-chain-hash.js';
import type { SqlExecutor, SqlPort } from '../sql-port.js';
import type { AuditEvent, AuditRecord } from '../store.js';

export interface WriteOptions {
  /**
   * false for a write no cache follows (an audit row on its own): the after-write hooks, which
   * re-read tenants and forget API tokens, are not run for it.
   */
  readonly hooks?: boolean;
}

/**
 * Told of the audit rows a write appends, synchronously and with no SQL (the webhook outbox
 * wakes its worker): the rows themselves are the outbox, so the write does no more for webhooks.
 */
export type AuditListener = (records: readonly AuditRecord[]) => void;

export class StoreContext {
  readonly #hooks = new Set<() => Promise<void> | void>();
  #auditListener: AuditListener | undefined;

  constructor(
    readonly port: SqlPort,
    readonly clock: () => number,
  ) {}

  nowIso(): string {
    return new Date(this.clock()).toISOString();
  }

  /** One write transaction (see {@link SqlPort.write}), then the after-write hooks. */
  async write<T>(work: (tx: SqlExecutor) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    const result = await this.port.write(work);
    if (options.hooks !== false) for (const hook of this.#hooks) await hook();
    return result;
  }

  /** Appends audit rows inside {@link write}: they commit with the change or not at all. */
  async appendAudit(tx: SqlExecutor, events: readonly AuditEvent[]): Promise<AuditRecord[]> {
    // Writes are serialized (see SqlPort.write), so the last row read here stays the last.
    // After an archive took every row, the chain goes on from the archive's anchor.
    const last =
      (await tx.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1')) ??
      (await tx.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_anchors ORDER BY seq DESC LIMIT 1'));
    let seq = last?.seq ?? 0;
    let prevHash = last?.hash ?? GENESIS_HASH;
    const records: AuditRecord[] = [];
    for (const event of events) {
      seq += 1;
      const at = this.nowIso();
      const fields = { seq, at, ...event };
      const hash = chainHash(prevHash, fields);
      await tx.run(
        'INSERT INTO audit_log (seq, at, actor, tenant_id, action, target, outcome, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
        [
          seq,
          at,
          event.actor,
          event.tenantId,
          event.action,
          event.target,
          event.outcome,
          serializeDetails(event.details),
          prevHash,
          hash,
        ],
      );
      records.push({ ...fields, prevHash, hash });
      prevHash = hash;
    }
    // Webhook events are read from these rows later (webhook-fanout.ts): they commit with the
    // change that causes them, or not at all, at no more cost to the write than the audit row.
    this.#auditListener?.(records);
    return records;
  }

  /** Sets who hears of appended audit rows (one listener: the webhook outbox). */
  onAudit(listener: AuditListener): void {
    this.#auditListener = listener;
  }

  addHook(hook: () => Promise<void> | void): () => void {
    this.#hooks.add(hook);
    return () => this.#hooks.delete(hook);
  }
}

/** `limit` clamped to a page size. */
export function pageSize(limit: number | undefined, fallback = 100, max = 1000): number {
  return Math.min(Math.max(limit ?? fallback, 1), max);
}
