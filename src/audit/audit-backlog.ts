// Audit rows that are not part of a write (gate denials) while the store is out of reach: kept
// in memory, in order and bounded, and appended once the store answers again. A denial stays a
// 403 during an outage (denying is safe) instead of becoming a 503 because its audit row could
// not be written, and the row is not lost silently: overflow is logged and itself audited.

import type { Logger } from '../logger.js';
import type { AuditEvent, AuditRepository } from '../store/store.js';

/** What the backlog needs to know of the store's reachability (a TenantDirectory). */
export interface StoreHealth {
  /** Defined while the store is out of reach. */
  readonly staleSince: number | undefined;
  on(event: 'fresh', listener: () => void): unknown;
  off(event: 'fresh', listener: () => void): unknown;
}

export interface AuditBacklogOptions {
  readonly audit: Pick<AuditRepository, 'append'>;
  readonly health: StoreHealth;
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** How many events to keep at most; later ones are counted and dropped. */
  readonly maxEvents?: number;
}

const DEFAULT_MAX_EVENTS = 10_000;

export class AuditBacklog {
  #pending: AuditEvent[] = [];
  #dropped = 0;
  #flushing: Promise<void> | undefined;
  readonly #maxEvents: number;
  readonly #onFresh = () => void this.flush();

  constructor(private readonly options: AuditBacklogOptions) {
    this.#maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
    options.health.on('fresh', this.#onFresh);
  }

  /** Events waiting for the store. */
  get size(): number {
    return this.#pending.length;
  }

  /**
   * Appends the event, or keeps it for later when the store cannot take it now: while the store
   * is known to be out of reach it does not even try (the caller does not wait on a dead
   * connection). Never throws.
   */
  async append(event: AuditEvent): Promise<void> {
    if (this.#pending.length === 0 && this.options.health.staleSince === undefined) {
      try {
        await this.options.audit.append(event);
        return;
      } catch (error) {
        this.options.logger?.warn({ err: error, action: event.action }, 'audit row kept in memory until the store answers');
      }
    }
    this.#keep(event);
    // Older events first: when the store answers, this one is appended after them.
    if (this.options.health.staleSince === undefined) await this.flush();
  }

  /** Appends what is waiting, in order; stops at the first failure (the rest waits for the next try). */
  flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Tries a last time; whatever the store still cannot take is logged as lost. */
  async close(): Promise<void> {
    this.options.health.off('fresh', this.#onFresh);
    await this.flush();
    if (this.#pending.length > 0 || this.#dropped > 0) {
      this.options.logger?.error({ lost: this.#pending.length + this.#dropped }, 'audit rows lost at shutdown: the store did not answer');
    }
  }

  #keep(event: AuditEvent): void {
    if (this.#pending.length >= this.#maxEvents) {
      if (this.#dropped++ === 0) this.options.logger?.error({ maxEvents: this.#maxEvents }, 'audit backlog full: further audit rows are dropped until the store answers');
      return;
    }
    // The row is written later: it says when the event happened.
    const occurredAt = new Date((this.options.clock ?? Date.now)()).toISOString();
    this.#pending.push({ ...event, details: { ...event.details, deferred: true, occurredAt } });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        await this.options.audit.append(this.#pending[0] as AuditEvent);
        this.#pending.shift();
      }
      if (this.#dropped > 0) {
        const dropped = this.#dropped;
        await this.options.audit.append({
          actor: 'system:entitle',
          tenantId: null,
          action: 'audit.dropped',
          target: null,
          outcome: 'failure',
          details: { dropped, reason: `the store was out of reach and the in-memory backlog (${this.#maxEvents} rows) was full` },
        });
        this.#dropped -= dropped;
        this.options.logger?.error({ dropped }, 'audit rows dropped during the outage; recorded as audit.dropped');
      }
    } catch (error) {
      this.options.logger?.warn({ err: error, pending: this.#pending.length }, 'audit backlog not yet written: the store still does not answer');
    }
  }
}
