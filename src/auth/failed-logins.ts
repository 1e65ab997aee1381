// Failed authentications per client address, in fixed one-minute windows: bearer tokens, console
// sign-ins and unsigned webhook posts all count in one table. Only failures are refused once an
// address is over the limit: a valid credential from the same address (another user behind the
// same proxy) still gets in.

const WINDOW_MS = 60_000;
/** How many addresses the table holds at most. */
export const MAX_TRACKED_ADDRESSES = 10_000;

interface Window {
  readonly start: number;
  count: number;
}

/**
 * Bounded, and never at the expense of a limit: when the table is full, an address still under
 * its limit (the oldest first) makes room before one that is over it, so failures from many
 * other addresses cannot unlock an address that is being refused.
 */
export class FailedLogins {
  /** Addresses under the limit, in the order their windows started (oldest first). */
  readonly #quiet = new Map<string, Window>();
  /** Addresses at or over the limit, in the order they reached it. */
  readonly #over = new Map<string, Window>();

  constructor(
    private readonly max: number,
    private readonly clock: () => number = Date.now,
    private readonly capacity: number = MAX_TRACKED_ADDRESSES,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError('max should be a positive integer');
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError('capacity should be a positive integer');
  }

  /** How many addresses the table holds now. */
  get size(): number {
    return this.#quiet.size + this.#over.size;
  }

  /** Seconds until the address may fail again; undefined while it is under the limit. */
  blockedFor(address: string): number | undefined {
    const window = this.#current(address);
    if (!window || window.count < this.max) return undefined;
    return Math.max(1, Math.ceil((window.start + WINDOW_MS - this.clock()) / 1000));
  }

  /** Counts one failure; true when this one reached the limit (the moment worth one log line). */
  record(address: string): boolean {
    const window = this.#current(address);
    if (window) {
      window.count++;
      if (window.count === this.max) {
        this.#quiet.delete(address);
        this.#over.set(address, window);
        return true;
      }
      return false;
    }
    this.#makeRoom();
    const fresh = { start: this.clock(), count: 1 };
    (fresh.count >= this.max ? this.#over : this.#quiet).set(address, fresh);
    return fresh.count >= this.max;
  }

  #current(address: string): Window | undefined {
    const window = this.#quiet.get(address) ?? this.#over.get(address);
    if (window && this.clock() - window.start < WINDOW_MS) return window;
    if (window) {
      this.#quiet.delete(address);
      this.#over.delete(address);
    }
    return undefined;
  }

  /** Drops ended windows from the front of each map; when still full, the oldest quiet address. */
  #makeRoom(): void {
    const now = this.clock();
    for (const map of [this.#quiet, this.#over])
      for (const [address, window] of map) {
        if (now - window.start < WINDOW_MS) break;
        map.delete(address);
      }
    if (this.size < this.capacity) return;
    const victims = this.#quiet.size > 0 ? this.#quiet : this.#over;
    const oldest = victims.keys().next();
    if (!oldest.done) victims.delete(oldest.value);
  }
}
