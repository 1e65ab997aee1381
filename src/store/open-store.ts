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
  const clock = options.clock ? { clock: options.clock } : {};
  if (options.databaseUrl) {
    // Loaded only when used: an embedded deployment never opens a PostgreSQL connection.
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    return PostgresStore.open({ url: options.databaseUrl, ...clock });
  }
  return SqliteStore.open({ path: options.databasePath, ...clock });
}
