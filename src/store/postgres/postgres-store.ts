// The PostgreSQL store, for several instances behind a load balancer: one shared database,
// writes serialized by an advisory lock, caches kept in step with LISTEN/NOTIFY.

import type pg from 'pg';
import type { EntitleStore } from '../store.js';
import { PostgresAudit } from './postgres-audit.js';
import { PostgresChangeFeed } from './postgres-changes.js';
import { PostgresConnections } from './postgres-connections.js';
import { lockKeys, openPool, PostgresContext, type PostgresOptions } from './postgres-database.js';
import { PostgresSecrets } from './postgres-secrets.js';
import { PostgresOverrides, PostgresTenants } from './postgres-tenants.js';
import { PostgresOAuthStates, PostgresTokens } from './postgres-tokens.js';
import { PostgresTransfer } from './postgres-transfer.js';

export class PostgresStore implements EntitleStore {
  readonly kind = 'postgres' as const;
  readonly tenants: PostgresTenants;
  readonly overrides: PostgresOverrides;
  readonly audit: PostgresAudit;
  readonly tokens: PostgresTokens;
  readonly connections: PostgresConnections;
  readonly oauthStates: PostgresOAuthStates;
  readonly secrets: PostgresSecrets;
  readonly changes: PostgresChangeFeed;
  /** Export and import of whole tables (store/transfer). */
  readonly transfer: PostgresTransfer;
  readonly #ctx: PostgresContext;

  private constructor(
    readonly pool: pg.Pool,
    options: PostgresOptions,
  ) {
    this.#ctx = new PostgresContext(pool, options.clock ?? Date.now, lockKeys(options.schema).write);
    this.tenants = new PostgresTenants(this.#ctx);
    this.overrides = new PostgresOverrides(this.#ctx);
    this.audit = new PostgresAudit(this.#ctx);
    this.tokens = new PostgresTokens(this.#ctx);
    this.connections = new PostgresConnections(this.#ctx);
    this.oauthStates = new PostgresOAuthStates(this.#ctx);
    this.secrets = new PostgresSecrets(this.#ctx);
    this.changes = new PostgresChangeFeed(this.#ctx, options);
    this.transfer = new PostgresTransfer(this.#ctx);
  }

  /** Connects, creates the schema when asked, and applies migrations. */
  static async open(options: PostgresOptions): Promise<PostgresStore> {
    return new PostgresStore(await openPool(options), options);
  }

  afterWrite(hook: () => Promise<void> | void): () => void {
    return this.#ctx.addHook(hook);
  }

  async close(): Promise<void> {
    // Listeners are closed with the store, even when a caller forgets to stop watching.
    this.changes.close();
    await this.pool.end();
  }
}
