// Periodic store upkeep without a cron: each registered task (purge expired OAuth states,
// idempotency records, …) runs on a timer in the server, with jitter so that several instances
// do not all purge at once, and opportunistically when a write that adds such rows finds the
// task overdue. A task is idempotent (a delete of what has expired), so two instances running
// it at once only do the work twice.

import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';

export interface MaintenanceTask {
  /** Unique, for logs and nudges: "oauth-states". */
  readonly name: string;
  /** How often it should run. */
  readonly everyMs: number;
  /** Does the work as of `now` (ms since the epoch); returns how many rows it removed. */
  run(now: number): Promise<number>;
}

interface MaintenanceEvents {
  /** A task finished: how many rows it removed. */
  ran: [name: string, removed: number];
  /** A task failed (logged; it is tried again at its next turn). */
  failed: [name: string, error: unknown];
}

export interface MaintenanceOptions {
  readonly clock: () => number;
  readonly logger?: Logger;
  /** A number in [0, 1): jitter. Tests pass a fixed one. */
  readonly random?: () => number;
}

interface Registered {
  readonly task: MaintenanceTask;
  lastRun: number | undefined;
  running: Promise<void> | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** The registry of periodic store tasks of one running server. */
export class Maintenance extends EventEmitter<MaintenanceEvents> {
  readonly #tasks = new Map<string, Registered>();
  #started = false;
  #closed = false;

  constructor(private readonly options: MaintenanceOptions) {
    super();
  }

  /** Adds a task; it is scheduled at once when the registry has started. */
  register(task: MaintenanceTask): void {
    if (this.#tasks.has(task.name)) throw new TypeError(`maintenance task "${task.name}" is registered already`);
    if (!Number.isFinite(task.everyMs) || task.everyMs < 1000)
      throw new TypeError(`maintenance task "${task.name}": everyMs should be at least 1000`);
    const registered: Registered = { task, lastRun: undefined, running: undefined, timer: undefined };
    this.#tasks.set(task.name, registered);
    if (this.#started) this.#schedule(registered, true);
  }

  get tasks(): readonly string[] {
    return [...this.#tasks.keys()];
  }

  /** Starts the timers: each task first runs after a random part of its period, then about every period. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    for (const registered of this.#tasks.values()) this.#schedule(registered, true);
  }

  /**
   * Runs the task now if it has not run within its period (a write that adds rows calls this),
   * without making the caller wait. Resolves when that run (if any) is over; never rejects.
   */
  nudge(name: string): Promise<void> {
    const registered = this.#tasks.get(name);
    if (!registered || this.#closed) return Promise.resolve();
    const { lastRun } = registered;
    if (lastRun !== undefined && this.options.clock() - lastRun < registered.task.everyMs)
      return registered.running ?? Promise.resolve();
    return this.#run(registered);
  }

  /** Runs every task now (the CLI, tests); resolves when all are over. */
  async runAll(): Promise<void> {
    await Promise.all([...this.#tasks.values()].map((registered) => this.#run(registered)));
  }

  /** Stops the timers and waits for runs in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const registered of this.#tasks.values()) clearTimeout(registered.timer);
    await Promise.all([...this.#tasks.values()].map((registered) => registered.running));
  }

  #schedule(registered: Registered, first: boolean): void {
    if (this.#closed) return;
    const random = this.options.random ?? Math.random;
    const period = registered.task.everyMs;
    // First turn: anywhere in the period (instances started together spread out); then ±10%.
    const delay = first ? Math.round(period * random()) : Math.round(period * (0.9 + 0.2 * random()));
    registered.timer = setTimeout(() => {
      void this.#run(registered).finally(() => this.#schedule(registered, false));
    }, delay);
    // Upkeep never keeps a process alive.
    registered.timer.unref();
  }

  #run(registered: Registered): Promise<void> {
    if (registered.running) return registered.running;
    const now = this.options.clock();
    registered.lastRun = now;
    registered.running = registered.task
      .run(now)
      .then(
        (removed) => {
          if (removed > 0)
            this.options.logger?.info({ task: registered.task.name, removed }, 'maintenance: expired rows removed');
          this.emit('ran', registered.task.name, removed);
        },
        (error: unknown) => {
          this.options.logger?.warn(
            { task: registered.task.name, err: error },
            'maintenance task failed; it runs again at its next turn',
          );
          this.emit('failed', registered.task.name, error);
        },
      )
      .finally(() => {
        registered.running = undefined;
      });
    return registered.running;
  }
}
