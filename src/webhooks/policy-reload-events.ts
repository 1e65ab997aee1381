// entitlements.changed for a policy reload: a change with no write of its own. Every instance
// watching the policy files notices it; each pages through the store's tenants (never the whole
// directory in memory), decides each tenant under the old and the new policy, and records an
// event for every tenant whose decisions differ, keyed by the reload's epoch and the tenant, so
// the event is recorded once however many instances announce it (and one that dies half-way
// leaves the rest to the others).

import { decideAll } from '../entitlements/decide.js';
import { tenantState } from '../entitlements/tenant-directory.js';
import type { Logger } from '../logger.js';
import type { FeatureValue, PolicySnapshot } from '../policy/types.js';
import type { WebhookOutboxStore } from '../store/repositories/webhook-outbox.js';
import type { WebhookScanStore } from '../store/repositories/webhook-scans.js';
import type { ChangeFeed, TenantRepository } from '../store/store.js';

/** A feature that decides differently under the new policy; null: the feature is new, or gone. */
export interface ReloadChange {
  readonly feature: string;
  readonly before: FeatureValue | null;
  readonly after: FeatureValue | null;
}

export interface PolicyReloadEventsOptions {
  readonly tenants: Pick<TenantRepository, 'list'>;
  readonly snapshots: Pick<ChangeFeed, 'load'>;
  readonly scans: Pick<WebhookScanStore, 'subscribedTypes' | 'policyEpoch'>;
  readonly outbox: Pick<WebhookOutboxStore, 'recordOnce'>;
  readonly clock: () => number;
  readonly logger?: Pick<Logger, 'error'>;
  /** Tenants read and decided at a time (default 250); the event loop is free between pages. */
  readonly pageSize?: number;
}

/** Events recorded per transaction. */
const RECORD_BATCH = 25;

const yieldToRequests = () => new Promise((resolve) => setImmediate(resolve));

/** Announces reloads one after another, in the order they happened. */
export class PolicyReloadEvents {
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(private readonly options: PolicyReloadEventsOptions) {}

  /** Announces the reload from `previous` to `next`; resolves with how many events this instance recorded. */
  reloaded(next: PolicySnapshot, previous: PolicySnapshot): Promise<number> {
    const run = this.#queue.then(() => this.#announce(next, previous));
    this.#queue = run.catch((error: unknown) =>
      this.options.logger?.error({ err: error, version: next.version }, 'announcing a policy reload failed'),
    );
    return run;
  }

  /** Resolves once every reload announced so far is done (tests). */
  async settled(): Promise<void> {
    await this.#queue;
  }

  /**
   * Stops after the page in progress (the server is closing): what is left is recorded by the
   * other instances that noticed the reload, as one that died would leave it.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
  }

  async #announce(next: PolicySnapshot, previous: PolicySnapshot): Promise<number> {
    const { tenants, snapshots, scans, outbox, clock } = this.options;
    if (this.#closed || !(await scans.subscribedTypes()).has('entitlements.changed')) return 0;
    const epoch = await scans.policyEpoch(next.version);
    const now = clock();
    const cause = {
      kind: 'policy.reload',
      actor: 'system',
      policyVersion: next.version,
      previousPolicyVersion: previous.version,
    };
    // Tenants with no override and no billing decide by their profile alone: one diff per profile.
    const byProfile = new Map<string, readonly ReloadChange[]>();
    let after: string | undefined;
    let recorded = 0;
    do {
      const page = await tenants.list({ limit: this.options.pageSize ?? 250, ...(after ? { after } : {}) });
      const drafts = [];
      for (const snapshot of await snapshots.load(page.items.map((tenant) => tenant.id))) {
        const state = tenantState(snapshot);
        const shared = state.overrides.size === 0 && !state.billing;
        let changes = shared ? byProfile.get(state.profile.key) : undefined;
        if (!changes) {
          changes = reloadChanges(decideAll(previous, state, now), decideAll(next, state, now));
          if (shared) byProfile.set(state.profile.key, changes);
        }
        if (changes.length === 0) continue;
        drafts.push({
          key: `policy.reload:${epoch}:${next.version}:${state.id}`,
          type: 'entitlements.changed',
          tenantId: state.id,
          data: { changes, cause },
        });
      }
      // Short transactions with requests between them: a large directory is announced without
      // holding the event loop (SQLite's writes are synchronous) or the write lock for long.
      for (let start = 0; start < drafts.length; start += RECORD_BATCH) {
        recorded += await outbox.recordOnce(drafts.slice(start, start + RECORD_BATCH));
        await yieldToRequests();
      }
      after = page.nextCursor;
      await yieldToRequests();
    } while (after !== undefined && !this.#closed);
    return recorded;
  }
}

type Decided = readonly { readonly feature: { readonly key: string }; readonly value: FeatureValue }[];

/** The features whose value differs, new features (before null) and removed ones (after null) included. */
export function reloadChanges(before: Decided, after: Decided): ReloadChange[] {
  const was = new Map(before.map((decision) => [decision.feature.key, decision.value]));
  const changes: ReloadChange[] = [];
  for (const decision of after) {
    const key = decision.feature.key;
    const previous = was.get(key);
    was.delete(key);
    if (previous === undefined) changes.push({ feature: key, before: null, after: decision.value });
    else if (!Object.is(previous, decision.value))
      changes.push({ feature: key, before: previous, after: decision.value });
  }
  for (const [feature, previous] of was) changes.push({ feature, before: previous, after: null });
  return changes;
}
