// The embedded default store: one SQLite file (WAL mode) shared by the server and the CLI.

import type { EntitleStore } from '../store.js';
import { SqliteAudit } from './sqlite-audit.js';
import { SqliteChangeFeed } from './sqlite-changes.js';
import { SqliteConnections } from './sqlite-connections.js';
import { openSqlite, SqliteContext, type SqliteDb, type SqliteOptions } from './sqlite-database.js';
import { SqliteOAuthStates } from './sqlite-oauth-states.js';
import { SqliteOverrides } from './sqlite-overrides.js';
import { SqliteSecrets } from './sqlite-secrets.js';
import { SqliteTenants } from './sqlite-tenants.js';
import { SqliteTokens } from './sqlite-tokens.js';
import { SqliteTransfer } from './sqlite-transfer.js';

export class SqliteStore implements EntitleStore {
  readonly kind = 'sqlite' as const;
  readonly tenants: SqliteTenants;
  readonly overrides: SqliteOverrides;
  readonly audit: SqliteAudit;
  readonly tokens: SqliteTokens;
  readonly connections: SqliteConnections;
  readonly oauthStates: SqliteOAuthStates;
  readonly secrets: SqliteSecrets;
  readonly changes: SqliteChangeFeed;
  /** Export and import of whole tables (store/transfer). */
  readonly transfer: SqliteTransfer;
  readonly #ctx: SqliteContext;

  private constructor(readonly db: SqliteDb, clock: () => number) {
    this.#ctx = new SqliteContext(db, clock);
    this.tenants = new SqliteTenants(this.#ctx);
    this.overrides = new SqliteOverrides(this.#ctx);
    this.audit = new SqliteAudit(this.#ctx);
    this.tokens = new SqliteTokens(this.#ctx);
    this.connections = new SqliteConnections(this.#ctx);
    this.oauthStates = new SqliteOAuthStates(this.#ctx);
    this.secrets = new SqliteSecrets(this.#ctx);
    this.changes = new SqliteChangeFeed(this.#ctx);
    this.transfer = new SqliteTransfer(this.#ctx);
  }

  /** Opens (and migrates) the database at `options.path`. */
  static open(options: SqliteOptions): SqliteStore {
    return new SqliteStore(openSqlite(options.path), options.clock ?? Date.now);
  }

  afterWrite(hook: () => Promise<void> | void): () => void {
    return this.#ctx.addHook(hook);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
