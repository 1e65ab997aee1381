// Decisions the gate has already made, so a gated request costs a map lookup instead of an
// OpenFeature evaluation. Exact, not approximate: the whole cache is dropped on every provider
// ConfigurationChanged event (policy reload, tenant or override write — emitted before the
// write returns — or a release toggle change), and an entry built on an expiring override is
// used only until that override expires.

import type { EvaluationDetails, FlagValue } from '@openfeature/server-sdk';

export interface DecisionCacheOptions {
  /** Calls `invalidate` on every change that may alter a decision; returns the unsubscribe function. */
  readonly subscribe: (invalidate: () => void) => () => void;
  readonly clock?: () => number;
  /** Bound on entries; the cache starts over when it is full. */
  readonly maxEntries?: number;
}

interface Entry {
  readonly details: EvaluationDetails<FlagValue>;
  readonly validUntil: number;
}

export class DecisionCache {
  #entries = new Map<string, Entry>();
  readonly #clock: () => number;
  readonly #maxEntries: number;
  readonly #unsubscribe: () => void;
  /** Bumped on every invalidation: an evaluation that started before it must not be stored. */
  #generation = 0;

  constructor(options: DecisionCacheOptions) {
    this.#clock = options.clock ?? Date.now;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#unsubscribe = options.subscribe(() => this.clear());
  }

  clear(): void {
    this.#generation++;
    this.#entries = new Map();
  }

  close(): void {
    this.#unsubscribe();
    this.clear();
  }

  /** The cached details, or the evaluation's (stored when it succeeded and nothing changed meanwhile). */
  async get<T extends FlagValue>(key: string, evaluate: () => Promise<EvaluationDetails<T>>): Promise<EvaluationDetails<T>> {
    const entry = this.#entries.get(key);
    if (entry !== undefined && entry.validUntil > this.#clock()) return entry.details as EvaluationDetails<T>;
    const generation = this.#generation;
    const details = await evaluate();
    // A decision from a stale state is not kept: the next request must see the staleness bound.
    if (details.errorCode === undefined && details.reason !== 'STALE' && generation === this.#generation) {
      if (this.#entries.size >= this.#maxEntries) this.#entries = new Map();
      this.#entries.set(key, { details, validUntil: validUntil(details) });
    }
    return details;
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** Until the override behind a decision expires; forever otherwise (until invalidated). */
function validUntil(details: EvaluationDetails<FlagValue>): number {
  const expires = details.flagMetadata.overrideExpiresAt;
  if (typeof expires !== 'string') return Number.POSITIVE_INFINITY;
  const ms = Date.parse(expires);
  return Number.isNaN(ms) ? 0 : ms;
}
