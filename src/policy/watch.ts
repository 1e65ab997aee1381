// Holds the policy in force and reloads it when its files change: a valid change replaces
// the snapshot whole, an invalid one is reported and the last good snapshot stays.

import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../logger.js';
import { formatIssue, readPolicyDirectory, type PolicyReadResult } from './read-policy.js';
import type { PolicyIssue, PolicySnapshot } from './types.js';

/** What code (and later the admin API) can read about the policy in force. */
export interface PolicyStatus {
  readonly directory: string;
  readonly version: string;
  /** When the snapshot in force was loaded (ISO 8601). */
  readonly loadedAt: string;
  /** The last failed load, if it came after the last good one. */
  readonly lastError: { readonly at: string; readonly issues: readonly PolicyIssue[] } | null;
}

/** Thrown at start-up when the policy is invalid: the service must not start without one. */
export class InvalidPolicyError extends Error {
  readonly code = 'ENT_ERR_INVALID_POLICY';
  constructor(readonly issues: readonly PolicyIssue[]) {
    super(`invalid policy:\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'InvalidPolicyError';
  }
}

interface PolicyWatcherEvents {
  change: [snapshot: PolicySnapshot, previous: PolicySnapshot];
  invalid: [issues: readonly PolicyIssue[]];
}

export interface PolicyWatcherOptions {
  readonly directory: string;
  readonly logger?: Logger;
  /** Quiet time after the last file event before reloading: editors write in several steps. */
  readonly debounceMs?: number;
  /** Whether to watch the directory at all (the CLI reads once). */
  readonly watch?: boolean;
  /** How reloads read the directory (the server: in a worker thread, off the event loop). */
  readonly read?: (dir: string) => Promise<PolicyReadResult>;
  /**
   * What a valid policy must also pass to replace the one in force (the server: no plan version
   * tenants are on may lose anything). Issues refuse the reload like invalid files do; so does a
   * check that cannot finish (the store out of reach).
   */
  readonly check?: (
    next: PolicySnapshot,
    previous: PolicySnapshot,
  ) => readonly PolicyIssue[] | Promise<readonly PolicyIssue[]>;
}

/** The policy in force, kept in step with its directory. Create with {@link PolicyWatcher.open}. */
export class PolicyWatcher extends EventEmitter<PolicyWatcherEvents> {
  #snapshot: PolicySnapshot;
  #loadedAt: Date;
  #lastError: PolicyStatus['lastError'] = null;
  #fsWatcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;

  private constructor(
    private readonly options: PolicyWatcherOptions,
    snapshot: PolicySnapshot,
  ) {
    super();
    this.#snapshot = snapshot;
    this.#loadedAt = new Date();
  }

  /** Loads the policy; throws {@link InvalidPolicyError} with every issue when it is invalid. */
  static async open(options: PolicyWatcherOptions): Promise<PolicyWatcher> {
    const result = await readPolicyDirectory(options.directory);
    if (!result.ok) throw new InvalidPolicyError(result.issues);
    const watcher = new PolicyWatcher(options, result.snapshot);
    if (options.watch !== false) watcher.#startWatching();
    return watcher;
  }

  /** The snapshot in force. Read it per decision: a reload swaps it. */
  get snapshot(): PolicySnapshot {
    return this.#snapshot;
  }

  get status(): PolicyStatus {
    return {
      directory: this.options.directory,
      version: this.#snapshot.version,
      loadedAt: this.#loadedAt.toISOString(),
      lastError: this.#lastError,
    };
  }

  /**
   * Reads the directory again now. Resolves once the outcome is in force (or reported).
   * Calls made during a reload coalesce into one more reload after it.
   */
  reload(): Promise<void> {
    if (this.#reloading) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    this.#reloading = this.#reloadOnce().finally(() => {
      this.#reloading = undefined;
      if (this.#reloadAgain) {
        this.#reloadAgain = false;
        void this.reload();
      }
    });
    return this.#reloading;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#fsWatcher?.close();
    this.#fsWatcher = undefined;
  }

  async #reloadOnce(): Promise<void> {
    const read = this.options.read ?? readPolicyDirectory;
    let result: PolicyReadResult;
    try {
      result = await read(this.options.directory);
    } catch (error) {
      // A read that could not finish (too large, too many at once) is a rejected reload, not a crash.
      result = {
        ok: false,
        issues: [
          {
            file: this.options.directory,
            line: 1,
            column: 1,
            message: `cannot check the policy: ${(error as Error).message}`,
          },
        ],
      };
    }
    if (result.ok && result.snapshot.version !== this.#snapshot.version && this.options.check) {
      let issues: readonly PolicyIssue[];
      try {
        issues = await this.options.check(result.snapshot, this.#snapshot);
      } catch (error) {
        const message = `cannot check the policy: ${(error as Error).message}`;
        issues = [{ file: this.options.directory, line: 1, column: 1, message }];
      }
      if (issues.length > 0) result = { ok: false, issues: [...issues] };
    }
    if (!result.ok) {
      this.#lastError = { at: new Date().toISOString(), issues: result.issues };
      this.options.logger?.error(
        { issues: result.issues.map(formatIssue), version: this.#snapshot.version },
        'policy reload rejected; the last good policy stays in force',
      );
      this.emit('invalid', result.issues);
      return;
    }
    this.#lastError = null;
    const previous = this.#snapshot;
    if (result.snapshot.version === previous.version) return;
    this.#snapshot = result.snapshot;
    this.#loadedAt = new Date();
    this.options.logger?.info({ version: result.snapshot.version, previous: previous.version }, 'policy reloaded');
    this.emit('change', result.snapshot, previous);
  }

  #startWatching(): void {
    const debounceMs = this.options.debounceMs ?? 50;
    try {
      this.#fsWatcher = watch(this.options.directory, { persistent: false }, () => {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => void this.reload(), debounceMs);
        this.#timer.unref();
      });
      this.#fsWatcher.on('error', (error) => {
        this.options.logger?.error({ err: error }, 'policy directory watch failed; reload with SIGHUP');
      });
    } catch (error) {
      this.options.logger?.error({ err: error }, 'cannot watch the policy directory; reload with SIGHUP');
    }
  }
}
