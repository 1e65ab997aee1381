// Runs the billing reconcile in the server every ENTITLE_BILLING_RECONCILE_INTERVAL. One instance
// at a time: each run first takes a lease in the store (lapsing after twice the interval, so a
// dead holder does not block the others for long).

import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { EntitleStore } from '../store/store.js';
import type { BillingSync, ReconcileReport } from './billing-sync.js';

export const RECONCILE_LEASE = 'billing.reconcile';

export interface BillingReconcilerOptions {
  readonly sync: BillingSync;
  readonly store: Pick<EntitleStore, 'billing'>;
  readonly intervalMs: number;
  readonly logger?: Logger;
}

export class BillingReconciler {
  readonly #holder = `instance-${randomUUID()}`;
  #running: Promise<ReconcileReport | undefined> | undefined;

  constructor(private readonly options: BillingReconcilerOptions) {}

  /** One run, if this instance gets the lease; undefined when another instance holds it. */
  runOnce(): Promise<ReconcileReport | undefined> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<ReconcileReport | undefined> {
    const { store, sync, intervalMs, logger } = this.options;
    try {
      if (!(await store.billing.acquireLease(RECONCILE_LEASE, this.#holder, intervalMs * 2))) return undefined;
      const report = await sync.reconcile({ dryRun: false });
      logger?.info(
        { checked: report.checked, drift: report.drift.length, fixed: report.fixed },
        'billing reconcile done',
      );
      return report;
    } catch (error) {
      logger?.error({ err: error }, 'billing reconcile failed; the next interval tries again');
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.#running;
    await this.options.store.billing.releaseLease(RECONCILE_LEASE, this.#holder).catch(() => undefined);
  }
}
