// Chooses and opens the store: SQLite (the embedded default) unless configured otherwise.

import type { Env } from '../config.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { EntitleStore } from './store.js';

export interface OpenStoreOptions {
  readonly env?: Env;
  /** SQLite file, or ':memory:'. */
  readonly databasePath: string;
  /** postgres:// URL: when set (here or as DATABASE_URL in `env`), the PostgreSQL store instead of SQLite. */
  readonly databaseUrl?: string;
  /** PostgreSQL schema (DATABASE_SCHEMA); default: the connection's search_path. */
  readonly databaseSchema?: string;
  readonly clock?: () => number;
}

export async function openStore(options: OpenStoreOptions): Promise<EntitleStore> {
  const clock = options.clock ? { clock: options.clock } : {};
  const url = options.databaseUrl ?? (options.env?.DATABASE_URL?.trim() || undefined);
  if (url) {
    // Loaded only when used: an embedded deployment never opens a PostgreSQL connection.
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    const schema = options.databaseSchema ?? (options.env?.DATABASE_SCHEMA?.trim() || undefined);
    return PostgresStore.open({ url, ...(schema ? { schema } : {}), ...clock });
  }
  return SqliteStore.open({ path: options.databasePath, ...clock });
}
