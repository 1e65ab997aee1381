// The tenants decisions read, kept in step with the store: the recently used ones in memory (a
// least-recently-used map of at most `maxTenants`), read synchronously with no query per
// decision; any other tenant is read on first use with one indexed read.

import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import type { ChangeFeed, EntitleStore } from '../store/store.js';
import type { TenantState } from './decide.js';
import { tenantPages, tenantState } from './tenant-state.js';

export { tenantPages, tenantState } from './tenant-state.js';

/** Which tenants changed, and which features may decide differently for them. */
export interface TenantChange {
  readonly tenantIds: readonly string[];
  /** Features whose overrides changed, or 'all' when a plan changed, a tenant came or went, or was not in memory. */
  readonly features: readonly string[] | 'all';
  /** Any tenant may have changed, not only those named (the history was too far behind to say). */
  readonly everyone?: true;
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
  /** Tenants kept in memory at most; the least recently used goes first. Default {@link DEFAULT_MAX_TENANTS}. */
  readonly maxTenants?: number;
}

/** ~0.8 KB a tenant: 50,000 of them are ~40 MiB, far more than the tenants active in an hour of most services. */
export const DEFAULT_MAX_TENANTS = 50_000;
/** First reads of one tenant tried while changes keep arriving for it, before failing closed. */
const MAX_COLD_READS = 20;
const RETRY_INITIAL_MS = 250;
const RETRY_MAX_MS = 5_000;
/** Tenants read per query when the directory reloads what it holds, or a caller pages through the store. */
const PAGE = 500;

/** A first read of a tenant in flight; `changed` is set when the feed names the tenant meanwhile. */
interface ColdLoad {
  changed: boolean;
  readonly promise: Promise<TenantState | undefined>;
}

/** The tenants decisions read. Open with {@link TenantDirectory.open}. */
export class TenantDirectory extends EventEmitter<TenantDirectoryEvents> {
  /** In least-recently-used order (a Map keeps insertion order); null: known not to exist. */
  #tenants = new Map<string, TenantState | null>();
  #loading = new Map<string, ColdLoad>();
  readonly #maxTenants: number;
  /** Above this many tenants in memory, a hit moves its tenant to the young end. */
  readonly #touchAbove: number;
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
    const max = options.maxTenants ?? DEFAULT_MAX_TENANTS;
    if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('options.maxTenants should be a positive integer');
    this.#maxTenants = max;
    this.#touchAbove = Math.floor(max / 2);
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

  /** Opens the directory empty: it reads where the change history stands (one indexed read), no tenant. */
  static async open(
    store: Pick<EntitleStore, 'changes' | 'afterWrite'>,
    options: TenantDirectoryOptions = {},
  ): Promise<TenantDirectory> {
    const directory = new TenantDirectory(store.changes, store, options);
    try {
      directory.#cursor = await store.changes.head();
    } catch (error) {
      directory.close();
      throw error;
    }
    return directory;
  }

  /**
   * The tenant as decisions see it, when it is in memory (undefined otherwise: see {@link has}
   * and {@link load}). Marks it as just used.
   */
  get(tenantId: string): TenantState | undefined {
    const state = this.#tenants.get(tenantId);
    if (state === undefined) return undefined;
    // Use order matters only once eviction is near: below half full, a hit costs one lookup.
    if (this.#tenants.size > this.#touchAbove) {
      this.#tenants.delete(tenantId);
      this.#tenants.set(tenantId, state);
    }
    return state ?? undefined;
  }

  /** Whether the directory knows the tenant without a read: in memory, or known not to exist. */
  has(tenantId: string): boolean {
    return this.#tenants.has(tenantId);
  }

  /**
   * The tenant, read from the store first when it is not in memory (one indexed read, shared by
   * concurrent callers); undefined when it does not exist. Rejects when the store cannot be read.
   */
  load(tenantId: string): Promise<TenantState | undefined> {
    if (this.#tenants.has(tenantId)) return Promise.resolve(this.get(tenantId));
    const pending = this.#loading.get(tenantId);
    if (pending) return pending.promise;
    const load: { changed: boolean; promise?: Promise<TenantState | undefined> } = { changed: false };
    load.promise = this.#readCold(tenantId, load).finally(() => {
      if (this.#loading.get(tenantId) === load) this.#loading.delete(tenantId);
    });
    this.#loading.set(tenantId, load as ColdLoad);
    return load.promise;
  }

  /** Reads until no change to the tenant arrived during the read, so a stale answer is never kept. */
  async #readCold(tenantId: string, load: { changed: boolean }): Promise<TenantState | undefined> {
    for (let attempt = 1; ; attempt++) {
      load.changed = false;
      const [snapshot] = await this.feed.load([tenantId]);
      if (load.changed) {
        // A tenant changed during every read: fail closed rather than answer from a read that raced.
        if (attempt >= MAX_COLD_READS) throw new Error(`tenant ${tenantId} changed during ${attempt} reads in a row`);
        continue;
      }
      const state = snapshot ? tenantState(snapshot) : null;
      // A sync may have brought it in meanwhile (it was in memory when its change came): that copy is as new.
      if (!this.#closed && !this.#tenants.has(tenantId)) this.#keep(tenantId, state);
      return state ?? undefined;
    }
  }

  #keep(tenantId: string, state: TenantState | null): void {
    this.#tenants.delete(tenantId);
    this.#tenants.set(tenantId, state);
    for (const oldest of this.#tenants.keys()) {
      if (this.#tenants.size <= this.#maxTenants) break;
      this.#tenants.delete(oldest);
    }
  }

  /**
   * Every tenant of the store, read in pages of `size` in byte order of id (never all at once):
   * for what needs every tenant (the Unleash payload, policy impact). Bypasses the memory.
   */
  pages(size = PAGE): AsyncGenerator<readonly TenantState[]> {
    return tenantPages(this.feed, size);
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

  /** Tenants in memory now (existing or known not to), at most `maxTenants`. */
  get size(): number {
    return this.#tenants.size;
  }

  get maxTenants(): number {
    return this.#maxTenants;
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
      await this.#reloadKept();
      return;
    }
    if (changes.tenantIds.length === 0) return;
    // A tenant in memory is read again. One not in memory needs nothing (its first use reads it),
    // but while there is room it is read now, as every tenant was before the directory had a
    // bound; one being read for the first time is read again.
    const kept: string[] = [];
    const added: string[] = [];
    let room = this.#maxTenants - this.#tenants.size;
    for (const id of changes.tenantIds) {
      const load = this.#loading.get(id);
      if (load) load.changed = true;
      if (this.#tenants.has(id)) kept.push(id);
      else if (room-- > 0) added.push(id);
    }
    const read = kept.length + added.length === 0 ? [] : await this.feed.load([...kept, ...added]);
    const byId = new Map(read.map((snapshot) => [snapshot.tenant.id, tenantState(snapshot)]));
    let features = new Set<string>();
    let all = kept.length < changes.tenantIds.length;
    for (const id of kept) {
      const before = this.#tenants.get(id);
      // Evicted meanwhile: nothing to refresh.
      if (before === undefined) continue;
      const after = byId.get(id) ?? null;
      this.#tenants.set(id, after);
      if (!before || !after || before.profile.key !== after.profile.key || before.billing !== after.billing) all = true;
      else features = new Set([...features, ...changedOverrides(before, after)]);
    }
    for (const id of added) if (!this.#tenants.has(id)) this.#keep(id, byId.get(id) ?? null);
    this.#cursor = changes.cursor;
    this.emit('change', { tenantIds: changes.tenantIds, features: all ? 'all' : [...features] });
  }

  /** The history is gone (too far behind): reads again, in pages, every tenant held, and reads again any being read. */
  async #reloadKept(): Promise<void> {
    const cursor = await this.feed.head();
    for (const load of this.#loading.values()) load.changed = true;
    const ids = [...this.#tenants.keys()];
    for (let start = 0; start < ids.length; start += PAGE) {
      const batch = ids.slice(start, start + PAGE);
      const fresh = new Map((await this.feed.load(batch)).map((snapshot) => [snapshot.tenant.id, snapshot]));
      for (const id of batch) {
        if (!this.#tenants.has(id)) continue;
        const snapshot = fresh.get(id);
        this.#tenants.set(id, snapshot ? tenantState(snapshot) : null);
      }
    }
    this.#cursor = cursor;
    // Decisions kept elsewhere (caches, streams) may be of tenants no longer in memory: everyone.
    this.emit('change', { tenantIds: ids, features: 'all', everyone: true });
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
