// Failed authentications per client address, in fixed one-minute windows. Only failures are
// refused once an address is over the limit: a valid credential from the same address (another
// user behind the same proxy) still gets in.

const WINDOW_MS = 60_000;
const MAX_TRACKED_ADDRESSES = 10_000;

/** Bounded: when the map is full it starts again rather than grow. */
export class FailedLogins {
  #windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly max: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Seconds until the address may fail again; undefined while it is under the limit. */
  blockedFor(address: string): number | undefined {
    const window = this.#current(address);
    if (!window || window.count < this.max) return undefined;
    return Math.max(1, Math.ceil((window.start + WINDOW_MS - this.clock()) / 1000));
  }

  record(address: string): void {
    const window = this.#current(address);
    if (window) {
      window.count++;
      return;
    }
    if (this.#windows.size >= MAX_TRACKED_ADDRESSES) this.#windows = new Map();
    this.#windows.set(address, { start: this.clock(), count: 1 });
  }

  #current(address: string): { start: number; count: number } | undefined {
    const window = this.#windows.get(address);
    if (window && this.clock() - window.start < WINDOW_MS) return window;
    if (window) this.#windows.delete(address);
    return undefined;
  }
}
