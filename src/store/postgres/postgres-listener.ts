// One LISTEN connection per store, shared by everything that watches the change feed (the
// tenant directory, the token cache): they all hear of a change, a lost connection and a
// reconnection at the same moment. A dropped connection reconnects with backoff and signals
// once it is back, so a cache re-reads and never stays stale after the reconnection. A silent
// partition sends no error and no end: a heartbeat (`SELECT 1` answered in time) turns it into
// a dropped connection within a few seconds.

import pg from 'pg';
import { clientConfig, type PostgresOptions } from './postgres-port.js';

export const CHANNEL = 'entitle_changes';
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
/** How often the listener proves the database still answers; an answer is due within twice that. */
export const HEARTBEAT_MS = 1_000;

export interface Watcher {
  readonly signal: () => void;
  readonly health?: ((connected: boolean) => void) | undefined;
}

export class ChangeListener {
  readonly #watchers = new Set<Watcher>();
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #backoff = MIN_BACKOFF_MS;
  #running = false;
  /** undefined until the first connection attempt has an outcome. */
  #connected: boolean | undefined;

  constructor(private readonly options: PostgresOptions) {}

  /** Adds a watcher (connecting on the first); returns the function that removes it (disconnecting after the last). */
  add(watcher: Watcher): () => void {
    this.#watchers.add(watcher);
    // A watcher joining during an outage learns of it at once.
    if (this.#connected === false) watcher.health?.(false);
    if (!this.#running) {
      this.#running = true;
      void this.#connect();
    }
    return () => {
      this.#watchers.delete(watcher);
      if (this.#watchers.size === 0) this.stop();
    };
  }

  stop(): void {
    this.#watchers.clear();
    this.#running = false;
    this.#connected = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    void this.#client?.end().catch(() => undefined);
    this.#client = undefined;
  }

  #emit(connected: boolean): void {
    this.#connected = connected;
    for (const watcher of [...this.#watchers]) watcher.health?.(connected);
  }

  #signal(): void {
    for (const watcher of [...this.#watchers]) watcher.signal();
  }

  async #connect(): Promise<void> {
    if (!this.#running) return;
    // Named, so an operator (or a test) can find this instance's listener in pg_stat_activity.
    const listener = new pg.Client({
      ...clientConfig(this.options),
      application_name: `entitle-listener:${this.options.schema ?? 'default'}`,
    });
    this.#client = listener;
    let retried = false;
    const current = () => this.#running && !retried && this.#client === listener;
    // The connection is gone (or never came): reconnect, and signal once it is back.
    const retry = () => {
      if (!current()) return;
      retried = true;
      if (this.#timer) clearTimeout(this.#timer);
      this.#emit(false);
      // end() destroys the socket when a statement is still waiting: nothing is left half-open.
      void listener.end().catch(() => undefined);
      this.#timer = setTimeout(() => void this.#connect(), this.#backoff);
      this.#timer.unref();
      this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
    };
    const heartbeatMs = this.options.heartbeatMs ?? HEARTBEAT_MS;
    const beat = () => {
      if (!current()) return;
      this.#timer = setTimeout(
        () => void withTimeout(listener.query('SELECT 1'), heartbeatMs * 2).then(beat, retry),
        heartbeatMs,
      );
      this.#timer.unref();
    };
    listener.on('notification', () => this.#signal());
    listener.on('error', retry);
    listener.on('end', retry);
    try {
      await listener.connect();
      await listener.query(`LISTEN ${CHANNEL}`);
    } catch {
      retry();
      return;
    }
    if (!current()) return;
    this.#backoff = MIN_BACKOFF_MS;
    this.#emit(true);
    this.#signal();
    beat();
  }
}

/** Rejects when the promise has not settled in time. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    timeout.unref();
    promise.then(
      (value) => {
        clearTimeout(timeout);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timeout);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
