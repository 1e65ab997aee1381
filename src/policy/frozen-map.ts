// A Map that cannot change once built: what a compiled snapshot hands out. A subclass rather
// than a wrapper, so `get` and `has` stay Map's own built-ins on the decision hot path.

/** Thrown by a mutator of a {@link FrozenMap}. */
export class FrozenMapError extends TypeError {
  readonly code = 'ENT_ERR_FROZEN_MAP';
  constructor(method: string) {
    super(`cannot ${method}: a compiled policy snapshot is immutable (a reload replaces it whole)`);
    this.name = 'FrozenMapError';
  }
}

/** A Map whose `set`, `delete` and `clear` always throw: its entries are given at construction. */
export class FrozenMap<K, V> extends Map<K, V> {
  constructor(entries: Iterable<readonly [K, V]> = []) {
    // Map's constructor would add entries through the overridden `set`: add them here instead.
    super();
    for (const [key, value] of entries) super.set(key, value);
    Object.freeze(this);
  }

  override set(_key: K, _value: V): this {
    throw new FrozenMapError('set');
  }

  override delete(_key: K): boolean {
    throw new FrozenMapError('delete');
  }

  override clear(): void {
    throw new FrozenMapError('clear');
  }
}
