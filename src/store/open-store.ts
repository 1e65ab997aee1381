// Chooses and opens the store: SQLite (the embedded default) unless configured otherwise.

import type { Env } from '../config.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { EntitleStore } from './store.js';

export interface OpenStoreOptions {
  readonly env?: Env;
  /** SQLite file, or ':memory:'. */
  readonly databasePath: string;
  /** postgres:// URL: when set, the PostgreSQL store instead of SQLite. */
  readonly databaseUrl?: string;
  readonly clock?: () => number;
}

export async function openStore(options: OpenStoreOptions): Promise<EntitleStore> {
  return SqliteStore.open({ path: options.databasePath, ...(options.clock ? { clock: options.clock } : {}) });
}
