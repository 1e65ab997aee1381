// Decisions the gate has already made, so a gated request costs a few map lookups instead of an
// OpenFeature evaluation. Exact, not approximate: the whole cache is dropped on every provider
// ConfigurationChanged event (policy reload, tenant or override write — emitted before the
// write returns — or a release toggle change), and an entry built on an expiring override or a
// billing grace period is used only until that expiry.

import type { EvaluationDetails, FlagValue } from '@openfeature/server-sdk';

export interface DecisionCacheOptions {
  /** Calls `invalidate` on every change that may alter a decision; returns the unsubscribe function. */
  readonly subscribe: (invalidate: () => void) => () => void;
  readonly clock?: () => number;
  /** Bound on entries; the cache starts over when it is full. */
  readonly maxEntries?: number;
}

/** What a decision depends on: the flag type asked for, the feature, and the caller (tenant and user). */
export interface DecisionKey {
  readonly type: 'boolean' | 'number' | 'string';
  readonly feature: string;
  readonly tenantId: string;
  readonly userId: string;
}

interface Entry {
  readonly type: DecisionKey['type'];
  readonly details: EvaluationDetails<FlagValue>;
  readonly validUntil: number;
}

// tenant → user → feature → entry. Nested rather than one joined string key: the parts are
// strings the request already holds (their hashes cached), so a hit allocates nothing.
type Entries = Map<string, Map<string, Map<string, Entry>>>;

export class DecisionCache {
  #entries: Entries = new Map();
  #size = 0;
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

  /** The cache's clock: what decides whether an override behind an entry has expired. */
  now(): number {
    return this.#clock();
  }

  /** Changes on every invalidation: whatever was built from entries of an older generation is stale. */
  get generation(): number {
    return this.#generation;
  }

  clear(): void {
    this.#generation++;
    this.#entries = new Map();
    this.#size = 0;
  }

  close(): void {
    this.#unsubscribe();
    this.clear();
  }

  /** The cached details, if there are any still valid: synchronous, for the hot path. */
  peek<T extends FlagValue>(key: DecisionKey): EvaluationDetails<T> | undefined {
    const entry = this.#entries.get(key.tenantId)?.get(key.userId)?.get(key.feature);
    // A feature has one type: an entry of another type answers a different question.
    if (entry === undefined || entry.type !== key.type) return undefined;
    if (entry.validUntil !== Number.POSITIVE_INFINITY && entry.validUntil <= this.#clock()) return undefined;
    return entry.details as EvaluationDetails<T>;
  }

  /** The cached details, or the evaluation's (stored when it succeeded and nothing changed meanwhile). */
  async get<T extends FlagValue>(
    key: DecisionKey,
    evaluate: () => Promise<EvaluationDetails<T>>,
  ): Promise<EvaluationDetails<T>> {
    const hit = this.peek<T>(key);
    if (hit !== undefined) return hit;
    const generation = this.#generation;
    const details = await evaluate();
    // A decision from a stale state is not kept: the next request must see the staleness bound.
    // One that began before a change (a write that has returned since) is not kept either.
    if (details.errorCode === undefined && details.reason !== 'STALE' && generation === this.#generation)
      this.#store(key, details);
    return details;
  }

  get size(): number {
    return this.#size;
  }

  #store(key: DecisionKey, details: EvaluationDetails<FlagValue>): void {
    if (this.#size >= this.#maxEntries) {
      this.#entries = new Map();
      this.#size = 0;
    }
    let users = this.#entries.get(key.tenantId);
    if (users === undefined) this.#entries.set(key.tenantId, (users = new Map()));
    let features = users.get(key.userId);
    if (features === undefined) users.set(key.userId, (features = new Map()));
    if (!features.has(key.feature)) this.#size++;
    features.set(key.feature, { type: key.type, details, validUntil: validUntil(details) });
  }
}

/**
 * Until the override behind a decision expires, or billing may decide otherwise (a grace period
 * or a paid period ends); forever otherwise (until invalidated).
 */
export function validUntil(details: Pick<EvaluationDetails<FlagValue>, 'flagMetadata'>): number {
  return Math.min(timeOf(details.flagMetadata.overrideExpiresAt), timeOf(details.flagMetadata.billingValidUntil));
}

function timeOf(value: unknown): number {
  if (typeof value !== 'string') return Number.POSITIVE_INFINITY;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? 0 : ms;
}
