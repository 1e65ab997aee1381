// API token lookups without a query per request. Exact: the cache is dropped after every write
// of this process (before the write returns: a revoked token stops working at once) and
// whenever another process writes to the store (the store's change signal).
//
// While the store is out of reach, decisions come from the last known state for a bounded time
// (TenantDirectory, EntitleProvider); authentication does the same: a token whose last lookup
// found it valid is still accepted, for as long as `trustLastKnown` says so. Our own writes
// drop that memory too, so a token this process revoked is never accepted again. While the
// store's change feed reports its connection down, a known token is answered at once instead of
// after a lookup that could only time out (and outlast the bound).

import { StoreUnavailableError } from '../errors.js';
import type { ApiToken, EntitleStore } from '../store/store.js';

export interface TokenCacheOptions {
  /** Whether tokens last seen valid may still be accepted while the store cannot answer. */
  readonly trustLastKnown?: () => boolean;
  readonly maxEntries?: number;
}

export class TokenCache {
  #entries = new Map<string, ApiToken>();
  /** Tokens found before the last change signal: used only when the store cannot answer. */
  #lastKnown = new Map<string, ApiToken>();
  #generation = 0;
  /** Bumped only by our own writes, which forget the last known tokens too. */
  #clears = 0;
  /** The store's change feed says its connection is down: a lookup would only wait for a timeout. */
  #unreachable = false;
  readonly #stops: (() => void)[];
  readonly #maxEntries: number;

  constructor(
    private readonly lookup: (secretHash: string) => Promise<ApiToken | undefined>,
    store: Pick<EntitleStore, 'afterWrite' | 'changes'>,
    private readonly options: TokenCacheOptions = {},
  ) {
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#stops = [
      store.afterWrite(() => this.clear()),
      store.changes.watch(
        () => this.#revalidate(),
        (connected) => {
          this.#unreachable = !connected;
        },
      ),
    ];
  }

  /** Forgets every token, including the last known ones. */
  clear(): void {
    this.#generation++;
    this.#clears++;
    this.#entries = new Map();
    this.#lastKnown = new Map();
  }

  /** Another process wrote: look every token up again, but remember them in case the store goes away. */
  #revalidate(): void {
    this.#generation++;
    this.#entries = new Map();
  }

  /** The token last seen valid for this hash, when last known tokens may be trusted now. */
  #trusted(secretHash: string): ApiToken | undefined {
    const lastKnown = this.#lastKnown.get(secretHash);
    return lastKnown && (this.options.trustLastKnown?.() ?? false) ? lastKnown : undefined;
  }

  /** Unknown hashes are not cached: guessing tokens cannot fill the cache. */
  async find(secretHash: string): Promise<ApiToken | undefined> {
    const hit = this.#entries.get(secretHash);
    if (hit) return hit;
    const known = this.#unreachable ? this.#trusted(secretHash) : undefined;
    if (known) return known;
    const generation = this.#generation;
    const clears = this.#clears;
    let token: ApiToken | undefined;
    try {
      token = await this.lookup(secretHash);
    } catch (error) {
      const known = error instanceof StoreUnavailableError ? this.#trusted(secretHash) : undefined;
      if (known) return known;
      throw error;
    }
    if (generation !== this.#generation) {
      // Another process wrote during the lookup: the answer may be older than that write, so it
      // is not cached, but it is still what the store last said of this token, as good as any
      // last known one (which such a write keeps). Without it, a token first used just as a
      // change signal arrives would not be trusted in an outage that follows. Our own writes
      // (clear) forget last known tokens: an answer that crossed one is not kept at all.
      if (token && clears === this.#clears) remember(this.#lastKnown, secretHash, token, this.#maxEntries);
      return token;
    }
    if (token) {
      remember(this.#entries, secretHash, token, this.#maxEntries);
      remember(this.#lastKnown, secretHash, token, this.#maxEntries);
    } else {
      // The store answered: what it says replaces what was known before.
      this.#lastKnown.delete(secretHash);
    }
    return token;
  }

  close(): void {
    for (const stop of this.#stops) stop();
    this.clear();
  }
}

/** Bounded: a full map starts again rather than growing. */
function remember(map: Map<string, ApiToken>, secretHash: string, token: ApiToken, maxEntries: number): void {
  if (map.size >= maxEntries && !map.has(secretHash)) map.clear();
  map.set(secretHash, token);
}
