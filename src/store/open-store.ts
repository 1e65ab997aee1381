// Chooses and opens the store: SQLite (the embedded default) unless configured otherwise.

import type { Config } from '../config.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { EntitleStore } from './store.js';

/** The part of the configuration that says where the store is. */
export type StoreConfig = Pick<Config, 'databasePath' | 'databaseUrl' | 'databaseSchema'>;

export interface OpenStoreOptions {
  readonly clock?: () => number;
}

/** databaseUrl set: the PostgreSQL store (in databaseSchema when set); otherwise SQLite at databasePath. */
export async function openStore(config: StoreConfig, options: OpenStoreOptions = {}): Promise<EntitleStore> {
  const clock = options.clock ? { clock: options.clock } : {};
  if (config.databaseUrl) {
    // Loaded only when used: an embedded deployment never opens a PostgreSQL connection.
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    return PostgresStore.open({
      url: config.databaseUrl,
      ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
      ...clock,
    });
  }
  return SqliteStore.open({ path: config.databasePath, ...clock });
}
