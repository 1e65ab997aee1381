// Every tenant's plan and overrides in memory, kept in step with the store: decisions read
// it synchronously, with no query per decision.

import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import type { ChangeFeed, EntitleStore, TenantSnapshot } from '../store/store.js';
import type { OverrideState, TenantState } from './decide.js';
import { NO_ADDONS, profileKey, type AddonQuantities } from './plan-profile.js';

/** Which tenants changed, and which features may decide differently for them. */
export interface TenantChange {
  readonly tenantIds: readonly string[];
  /** Features whose overrides changed, or 'all' when a plan changed or a tenant came or went. */
  readonly features: readonly string[] | 'all';
}

interface TenantDirectoryEvents {
  change: [change: TenantChange];
  /** The store is out of reach: decisions come from the last known state. */
  stale: [since: number];
  /** The store is back and everything missed meanwhile has been read. */
  fresh: [];
}

export interface TenantDirectoryOptions {
  readonly logger?: Logger;
  readonly clock?: () => number;
  /** After a failed catch-up, the first retry's delay, doubled on each failure up to `maxMs`. */
  readonly retry?: { readonly initialMs?: number; readonly maxMs?: number };
}

const RETRY_INITIAL_MS = 250;
const RETRY_MAX_MS = 5_000;

/** Builds the in-memory form of one tenant. */
export function tenantState(snapshot: TenantSnapshot): TenantState {
  // Most tenants have no override: they share one empty map, and plan names are shared strings,
  // so 100,000 tenants cost little memory and decisions touch fewer cache lines.
  const overrides: ReadonlyMap<string, OverrideState> =
    snapshot.overrides.length === 0
      ? NO_OVERRIDES
      : new Map(
          snapshot.overrides.map((override) => [
            override.feature,
            Object.freeze({
              ...override,
              expiresAtMs: override.expiresAt === null ? null : Date.parse(override.expiresAt),
            }),
          ]),
        );
  const { id, name, plan, planVersion } = snapshot.tenant;
  const billing = snapshot.billing
    ? Object.freeze({ link: snapshot.billing.link, subscriptions: Object.freeze([...snapshot.billing.subscriptions]) })
    : undefined;
  const held = addonQuantities(snapshot.addons);
  const profile = profileKey(plan, planVersion, held.addons);
  const addons = internAddons(profile, held.addons);
  const unbilledAddons =
    held.unbilledAddons && internAddons(profileKey('', 0, held.unbilledAddons), held.unbilledAddons);
  return Object.freeze({
    id,
    name,
    plan: internPlan(plan),
    planVersion,
    addons,
    profile,
    overrides,
    ...(billing ? { billing } : {}),
    ...(unbilledAddons ? { unbilledAddons } : {}),
  });
}

/** Quantities by add-on, the operator's and billing's rows added up, and the operator's alone when billing holds some. */
function addonQuantities(rows: TenantSnapshot['addons']): {
  addons: AddonQuantities;
  unbilledAddons?: AddonQuantities;
} {
  if (rows === undefined || rows.length === 0) return { addons: NO_ADDONS };
  const all = new Map<string, number>();
  const unbilled = new Map<string, number>();
  for (const held of rows) {
    all.set(held.addon, (all.get(held.addon) ?? 0) + held.quantity);
    if (!held.billing) unbilled.set(held.addon, (unbilled.get(held.addon) ?? 0) + held.quantity);
  }
  if (rows.every((held) => !held.billing)) return { addons: all };
  return { addons: all, unbilledAddons: unbilled.size === 0 ? NO_ADDONS : unbilled };
}

const NO_OVERRIDES: ReadonlyMap<string, OverrideState> = new Map();
const addonSets = new Map<string, AddonQuantities>();

/**
 * One map per set of add-ons (named by its profile key), however many tenants hold it: tenants
 * stay small and close together in memory, which keeps deciding for them as fast as for others.
 */
function internAddons(profile: string, addons: AddonQuantities): AddonQuantities {
  if (addons.size === 0) return addons;
  const at = profile.indexOf('+');
  const key = profile.slice(at);
  const known = addonSets.get(key);
  if (known !== undefined) return known;
  if (addonSets.size < 100_000) addonSets.set(key, addons);
  return addons;
}
const planNames = new Map<string, string>();

/** One string per plan name, however many tenants were read with it. */
function internPlan(plan: string): string {
  const known = planNames.get(plan);
  if (known !== undefined) return known;
  if (planNames.size < 10_000) planNames.set(plan, plan);
  return plan;
}

/** The tenants decisions read. Open with {@link TenantDirectory.open}. */
export class TenantDirectory extends EventEmitter<TenantDirectoryEvents> {
  #tenants = new Map<string, TenantState>();
  #cursor = '';
  #syncing: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  #staleSince: number | undefined;
  /** Whether the feed's connection is up (stores without one never say otherwise). */
  #connected = true;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay: number;
  #closed = false;
  readonly #stopWatching: () => void;
  readonly #removeHook: () => void;

  private constructor(
    private readonly feed: ChangeFeed,
    store: Pick<EntitleStore, 'afterWrite'>,
    private readonly options: TenantDirectoryOptions,
  ) {
    super();
    this.#retryDelay = options.retry?.initialMs ?? RETRY_INITIAL_MS;
    // Our own writes: synced before the write's promise resolves. Other processes' writes: when the feed signals.
    this.#removeHook = store.afterWrite(() =>
      this.sync().catch((error: unknown) => {
        this.#syncFailed(error);
        throw error;
      }),
    );
    this.#stopWatching = feed.watch(
      () => this.#catchUp(),
      (connected) => {
        this.#connected = connected;
        if (!connected) this.#markStale();
      },
    );
  }

  /** Syncs; fresh again when it worked and the feed is connected, else stale with a retry on a timer. */
  #catchUp(): void {
    this.sync().then(
      () => {
        this.#retryDelay = this.options.retry?.initialMs ?? RETRY_INITIAL_MS;
        if (this.#connected) this.#markFresh();
      },
      (error: unknown) => this.#syncFailed(error),
    );
  }

  /**
   * A failed catch-up is retried on a timer with backoff (bounded by `retry.maxMs`), not only on
   * the next change: the directory becomes fresh again once the store answers, with no write.
   */
  #syncFailed(error: unknown): void {
    this.#markStale();
    if (this.#closed || this.#retryTimer) return;
    const delay = this.#retryDelay;
    this.#retryDelay = Math.min(delay * 2, this.options.retry?.maxMs ?? RETRY_MAX_MS);
    this.options.logger?.error({ err: error }, `tenant directory sync failed; retrying in ${delay} ms`);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#catchUp();
    }, delay);
    this.#retryTimer.unref();
  }

  static async open(
    store: Pick<EntitleStore, 'changes' | 'afterWrite'>,
    options: TenantDirectoryOptions = {},
  ): Promise<TenantDirectory> {
    const directory = new TenantDirectory(store.changes, store, options);
    await directory.#reloadAll();
    return directory;
  }

  get(tenantId: string): TenantState | undefined {
    return this.#tenants.get(tenantId);
  }

  /** Since when (ms) decisions come from a state the store could not confirm; undefined when fresh. */
  get staleSince(): number | undefined {
    return this.#staleSince;
  }

  #markStale(): void {
    if (this.#staleSince !== undefined) return;
    this.#staleSince = (this.options.clock ?? Date.now)();
    this.options.logger?.warn({}, 'the store is out of reach: decisions come from the last known state (STALE)');
    this.emit('stale', this.#staleSince);
  }

  #markFresh(): void {
    if (this.#staleSince === undefined) return;
    this.#staleSince = undefined;
    this.options.logger?.info({}, 'the store is back: decisions are fresh again');
    this.emit('fresh');
  }

  get size(): number {
    return this.#tenants.size;
  }

  tenants(): IterableIterator<TenantState> {
    return this.#tenants.values();
  }

  /**
   * Catches up with the store. Resolves once every change committed before the call is in
   * memory; concurrent calls share the work.
   */
  sync(): Promise<void> {
    if (!this.#syncing) {
      this.#syncing = this.#syncOnce().finally(() => {
        this.#syncing = undefined;
      });
      return this.#syncing;
    }
    // A sync under way may have read the feed before the caller's write: every caller that
    // arrives meanwhile shares one more sync after it.
    this.#queued ??= this.#syncing.then(
      () => this.#runQueued(),
      () => this.#runQueued(),
    );
    return this.#queued;
  }

  #runQueued(): Promise<void> {
    this.#queued = undefined;
    return this.sync();
  }

  close(): void {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#stopWatching();
    this.#removeHook();
  }

  async #syncOnce(): Promise<void> {
    const changes = await this.feed.since(this.#cursor);
    if ('reload' in changes) {
      await this.#reloadAll();
      return;
    }
    if (changes.tenantIds.length === 0) return;
    const fresh = await this.feed.load(changes.tenantIds);
    const byId = new Map(fresh.map((snapshot) => [snapshot.tenant.id, tenantState(snapshot)]));
    let features = new Set<string>();
    let all = false;
    for (const id of changes.tenantIds) {
      const before = this.#tenants.get(id);
      const after = byId.get(id);
      if (after) this.#tenants.set(id, after);
      else this.#tenants.delete(id);
      if (!before || !after || before.profile !== after.profile || before.billing !== after.billing) all = true;
      else features = new Set([...features, ...changedOverrides(before, after)]);
    }
    this.#cursor = changes.cursor;
    this.emit('change', { tenantIds: changes.tenantIds, features: all ? 'all' : [...features] });
  }

  async #reloadAll(): Promise<void> {
    const { cursor, tenants } = await this.feed.loadAll();
    const next = new Map<string, TenantState>();
    for (const snapshot of tenants) next.set(snapshot.tenant.id, tenantState(snapshot));
    const hadTenants = this.#tenants.size > 0;
    this.#tenants = next;
    this.#cursor = cursor;
    if (hadTenants) this.emit('change', { tenantIds: [...next.keys()], features: 'all' });
  }
}

function changedOverrides(before: TenantState, after: TenantState): string[] {
  const changed: string[] = [];
  for (const [feature, override] of after.overrides) {
    if (before.overrides.get(feature)?.version !== override.version) changed.push(feature);
  }
  for (const feature of before.overrides.keys()) if (!after.overrides.has(feature)) changed.push(feature);
  return changed;
}
