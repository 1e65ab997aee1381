// ENTITLE_AUDIT_RETENTION: rows older than the retention are archived into
// ENTITLE_AUDIT_ARCHIVE_DIR on a schedule the server keeps itself (no cron). Each sweep is one
// archive transaction per batch, serialized with every writer: on PostgreSQL two instances never
// archive the same rows (the second finds them gone and writes no file).

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import type { AuditRepository } from '../store/store.js';
import { archiveAudit } from './audit-archive.js';

export interface AuditRetentionOptions {
  readonly audit: Pick<AuditRepository, 'archive'>;
  readonly retentionMs: number;
  readonly directory: string;
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** Between sweeps; default a tenth of the retention, between 1 s and 1 h. */
  readonly intervalMs?: number;
}

/** Batches per sweep at most: a sweep never runs unbounded (the next one goes on). */
const MAX_BATCHES_PER_SWEEP = 20;

export class AuditRetention {
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;
  readonly #clock: () => number;

  constructor(private readonly options: AuditRetentionOptions) {
    this.#clock = options.clock ?? Date.now;
  }

  /** Sweeps now and then on the interval. */
  async start(): Promise<void> {
    await mkdir(this.options.directory, { recursive: true });
    const interval = this.options.intervalMs ?? Math.min(Math.max(this.options.retentionMs / 10, 1_000), 3_600_000);
    this.#timer = setInterval(() => void this.sweep(), interval);
    this.#timer.unref();
    void this.sweep();
  }

  /** Archives every row older than the retention (one file per batch); resolves with the rows archived. */
  sweep(): Promise<number> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  async #sweep(): Promise<number> {
    let total = 0;
    try {
      const now = this.#clock();
      const before = new Date(now - this.options.retentionMs).toISOString();
      for (let batch = 0; batch < MAX_BATCHES_PER_SWEEP; batch++) {
        const file = join(this.options.directory, `audit-before-${before.replace(/[:.]/g, '-')}-${now}-${batch}.jsonl`);
        const archived = await archiveAudit(this.options.audit, before, file, this.#clock);
        if (archived.rows === 0) break;
        total += archived.rows;
        this.options.logger?.info(
          { rows: archived.rows, file, anchor: archived.anchor },
          'audit rows archived (retention)',
        );
      }
    } catch (error) {
      this.options.logger?.error(
        { err: error },
        'audit retention: archive failed; the rows stay in the store until the next sweep',
      );
    }
    return total;
  }
}
