// Audit rows that are not part of a write — gate denials and sensitive reads — written in
// batches: a row waits at most `windowMs` (or until `maxBatch` rows are waiting) and goes into
// the hash chain with the others in one transaction, instead of a transaction per request.
// A SIGKILL loses at most the rows waiting (never more than `maxBatch`); close() (SIGTERM)
// writes them. While the store is out of reach the rows are kept in memory, in order and
// bounded (`maxEvents`), and written once it answers: a denial stays a 403 during an outage
// instead of becoming a 503, and overflow is logged and itself audited.

import type { Logger } from '../logger.js';
import type { AuditEvent } from '../store/store.js';

/** What the backlog needs to know of the store's reachability (a TenantDirectory). */
export interface StoreHealth {
  /** Defined while the store is out of reach. */
  readonly staleSince: number | undefined;
  on(event: 'fresh', listener: () => void): unknown;
  off(event: 'fresh', listener: () => void): unknown;
}

export interface AuditBacklogOptions {
  /** Appends rows to the chain in one transaction (store.audit.appendBatch). */
  readonly audit: { appendBatch(events: readonly AuditEvent[]): Promise<unknown> };
  readonly health: StoreHealth;
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** How long a row may wait for others, in ms; 0 writes each row before append() resolves. */
  readonly windowMs?: number;
  /** Rows per transaction, and the most that may wait while the store answers. */
  readonly maxBatch?: number;
  /** How many rows to keep at most while the store is out of reach; later ones are counted and dropped. */
  readonly maxEvents?: number;
}

export const DEFAULT_AUDIT_WINDOW_MS = 50;
export const DEFAULT_AUDIT_MAX_BATCH = 500;
const DEFAULT_MAX_EVENTS = 10_000;

export class AuditBacklog {
  #pending: AuditEvent[] = [];
  #dropped = 0;
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #windowMs: number;
  readonly #maxBatch: number;
  readonly #maxEvents: number;
  readonly #onFresh = () => void this.flush();

  constructor(private readonly options: AuditBacklogOptions) {
    this.#windowMs = options.windowMs ?? DEFAULT_AUDIT_WINDOW_MS;
    this.#maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_AUDIT_MAX_BATCH);
    this.#maxEvents = Math.max(this.#maxBatch, options.maxEvents ?? DEFAULT_MAX_EVENTS);
    options.health.on('fresh', this.#onFresh);
  }

  /** Rows not yet in the store. */
  get size(): number {
    return this.#pending.length;
  }

  /**
   * Queues the row; with a window of 0, or when `maxBatch` rows already wait, it waits for
   * them to be written first (so at most `maxBatch` rows are ever at risk). Never throws.
   */
  async append(event: AuditEvent): Promise<void> {
    // Bounded: each pass writes a batch, or finds the store out of reach and stops waiting.
    for (let tries = 0; this.#pending.length >= this.#maxBatch && this.#reachable() && tries < 3; tries++)
      await this.flush();
    this.#keep(event);
    if (this.#windowMs === 0 || this.#closed) await this.flush();
    else this.#timer ??= setTimeout(this.#onTimer, this.#windowMs);
  }

  /** Writes what is waiting, in order, a batch per transaction; stops at the first failure (kept for the next try). */
  flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Writes what waits (SIGTERM); whatever the store still cannot take is logged as lost. */
  async close(): Promise<void> {
    this.#closed = true;
    this.options.health.off('fresh', this.#onFresh);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
    if (this.#pending.length > 0 || this.#dropped > 0) {
      this.options.logger?.error(
        { lost: this.#pending.length + this.#dropped },
        'audit rows lost at shutdown: the store did not answer',
      );
    }
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    void this.flush().then(() => {
      // A failure keeps the rows: try again after another window (or on the store's 'fresh').
      if (this.#pending.length > 0 && this.#reachable() && !this.#closed)
        this.#timer ??= setTimeout(this.#onTimer, this.#windowMs || DEFAULT_AUDIT_WINDOW_MS);
    });
  };

  #reachable(): boolean {
    return this.options.health.staleSince === undefined;
  }

  #keep(event: AuditEvent): void {
    if (this.#pending.length >= this.#maxEvents) {
      if (this.#dropped++ === 0)
        this.options.logger?.error(
          { maxEvents: this.#maxEvents },
          'audit backlog full: further audit rows are dropped until the store answers',
        );
      return;
    }
    // Written later than it happened (the store is out of reach): the row says when it happened.
    if (!this.#reachable()) {
      const occurredAt = new Date((this.options.clock ?? Date.now)()).toISOString();
      this.#pending.push({ ...event, details: { ...event.details, deferred: true, occurredAt } });
      return;
    }
    this.#pending.push(event);
  }

  async #drain(): Promise<void> {
    // While the store is known to be out of reach nobody waits on a dead connection: 'fresh' flushes.
    if (!this.#reachable()) return;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.slice(0, this.#maxBatch);
        await this.options.audit.appendBatch(batch);
        // Only once committed: until then the rows are still at risk, and still counted.
        this.#pending.splice(0, batch.length);
      }
      if (this.#dropped > 0) {
        const dropped = this.#dropped;
        await this.options.audit.appendBatch([
          {
            actor: 'system:entitle',
            tenantId: null,
            action: 'audit.dropped',
            target: null,
            outcome: 'failure',
            details: {
              dropped,
              reason: `the store was out of reach and the in-memory backlog (${this.#maxEvents} rows) was full`,
            },
          },
        ]);
        this.#dropped -= dropped;
        this.options.logger?.error({ dropped }, 'audit rows dropped during the outage; recorded as audit.dropped');
      }
    } catch (error) {
      // These rows will be written later than they happened: each says when it happened.
      const occurredAt = new Date((this.options.clock ?? Date.now)()).toISOString();
      this.#pending = this.#pending.map((event) =>
        event.details?.deferred === true
          ? event
          : { ...event, details: { ...event.details, deferred: true, occurredAt } },
      );
      this.options.logger?.warn(
        { err: error, pending: this.#pending.length },
        'audit rows not yet written: the store does not answer',
      );
    }
  }
}
