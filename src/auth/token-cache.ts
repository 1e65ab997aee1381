// API token lookups without a query per request. Exact: the cache is dropped after every write
// of this process (before the write returns: a revoked token stops working at once) and
// whenever another process writes to the store (the store's change signal).

import type { ApiToken, EntitleStore } from '../store/store.js';

export class TokenCache {
  #entries = new Map<string, ApiToken>();
  #generation = 0;
  readonly #stops: (() => void)[];

  constructor(
    private readonly lookup: (secretHash: string) => Promise<ApiToken | undefined>,
    store: Pick<EntitleStore, 'afterWrite' | 'changes'>,
    private readonly maxEntries = 10_000,
  ) {
    const clear = () => this.clear();
    this.#stops = [store.afterWrite(clear), store.changes.watch(clear)];
  }

  clear(): void {
    this.#generation++;
    this.#entries = new Map();
  }

  /** Unknown hashes are not cached: guessing tokens cannot fill the cache. */
  async find(secretHash: string): Promise<ApiToken | undefined> {
    const hit = this.#entries.get(secretHash);
    if (hit) return hit;
    const generation = this.#generation;
    const token = await this.lookup(secretHash);
    if (token && generation === this.#generation) {
      if (this.#entries.size >= this.maxEntries) this.#entries = new Map();
      this.#entries.set(secretHash, token);
    }
    return token;
  }

  close(): void {
    for (const stop of this.#stops) stop();
    this.clear();
  }
}
