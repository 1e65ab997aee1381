// The PostgreSQL store, for several instances behind a load balancer: one shared database,
// writes serialized by an advisory lock, caches kept in step with LISTEN/NOTIFY (the listener).

import type pg from 'pg';
import { SqlStore } from '../sql-store.js';
import { ChangeListener } from './postgres-listener.js';
import { lockKeys, openPool, PostgresPort, type PostgresOptions } from './postgres-port.js';

export class PostgresStore extends SqlStore {
  private constructor(
    readonly pool: pg.Pool,
    options: PostgresOptions,
  ) {
    const listener = new ChangeListener(options);
    super({
      port: new PostgresPort(pool, lockKeys(options.schema).write),
      clock: options.clock,
      watch: (signal, health) => listener.add({ signal, health }),
      stop: () => listener.stop(),
    });
  }

  /** Connects, creates the schema when asked, and applies migrations. */
  static async open(options: PostgresOptions): Promise<PostgresStore> {
    return new PostgresStore(await openPool(options), options);
  }
}
