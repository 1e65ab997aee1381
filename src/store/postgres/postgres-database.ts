// The PostgreSQL pool every repository shares: migrations, write transactions (serialized by
// an advisory lock, so the audit chain and the change feed keep commit order across
// instances), audit appends, and the hooks that run once a write has committed.

import pg from 'pg';
import { chainHash, GENESIS_HASH, serializeDetails } from '../../audit/audit-chain.js';
import { isClientFacing, StoreUnavailableError } from '../../errors.js';
import type { AuditEvent, AuditRecord } from '../store.js';
import type { Migration } from '../sqlite/migrations.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';

/** Any connection that can run a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/** One key for every write: "entl" in ASCII. */
const WRITE_LOCK = 0x656e746c;
const MIGRATION_LOCK = WRITE_LOCK + 1;

export interface PostgresOptions {
  /** postgres://user@host:port/database */
  readonly url: string;
  /** A schema of its own (created when missing); default: the connection's search_path. */
  readonly schema?: string;
  readonly clock?: () => number;
  readonly maxConnections?: number;
}

export function quoteIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new Error(`not a valid schema name: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** Client settings for a pool or a listener: the schema as search_path when one is given. */
export function clientConfig(options: PostgresOptions): pg.ClientConfig {
  return {
    connectionString: options.url,
    // A silent network partition is noticed in seconds, not after the OS's TCP timeout.
    keepAlive: true,
    keepAliveInitialDelayMillis: 5_000,
    connectionTimeoutMillis: 5_000,
    ...(options.schema ? { options: `-c search_path=${quoteIdentifier(options.schema)}` } : {}),
  };
}

export async function openPool(options: PostgresOptions, migrations: readonly Migration[] = POSTGRES_MIGRATIONS): Promise<pg.Pool> {
  if (options.schema) {
    const admin = new pg.Client({ connectionString: options.url });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(options.schema)}`);
    } finally {
      await admin.end();
    }
  }
  const pool = new pg.Pool({ ...clientConfig(options), max: options.maxConnections ?? 10 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  try {
    await migrate(pool, migrations);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return pool;
}

async function migrate(pool: pg.Pool, migrations: readonly Migration[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => row.version));
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, new Date().toISOString()]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export async function appliedPostgresMigrations(pool: pg.Pool): Promise<number[]> {
  return (await pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((row) => row.version);
}

/** Shared state of one open PostgreSQL store. */
export class PostgresContext {
  readonly #hooks = new Set<() => Promise<void> | void>();

  constructor(
    readonly pool: pg.Pool,
    readonly clock: () => number,
  ) {}

  nowIso(): string {
    return new Date(this.clock()).toISOString();
  }

  /**
   * A read on the pool, with database failures as 503. A read that met a pooled connection
   * which died while idle (the pool learns of it only then) is tried once more on a fresh one.
   */
  async read<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
    try {
      return await work(this.pool);
    } catch (error) {
      if (!isLostConnection(error)) throw translateError(error);
    }
    try {
      return await work(this.pool);
    } catch (error) {
      throw translateError(error);
    }
  }

  /** Runs `work` in one transaction holding the write lock, then the after-write hooks. */
  async write<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
      try {
        await client.query('BEGIN');
      } catch (error) {
        // Nothing has been done yet: a connection that died while idle is replaced and the write goes on.
        client.release(error instanceof Error ? error : true);
        if (!isLostConnection(error)) throw error;
        client = await this.pool.connect();
        await client.query('BEGIN');
      }
    } catch (error) {
      throw translateError(error);
    }
    let result: T;
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
      result = await work(client);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw translateError(error);
    } finally {
      client.release();
    }
    for (const hook of this.#hooks) await hook();
    return result;
  }

  /** Appends an audit row inside {@link write}: it commits with the change or not at all. */
  async appendAudit(db: Queryable, event: AuditEvent): Promise<AuditRecord> {
    const last = (await db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1')).rows[0];
    const seq = (last?.seq ?? 0) + 1;
    const prevHash = last?.hash ?? GENESIS_HASH;
    const at = this.nowIso();
    const fields = { seq, at, ...event };
    const hash = chainHash(prevHash, fields);
    await db.query(
      'INSERT INTO audit_log (seq, at, actor, tenant_id, action, target, outcome, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
      [seq, at, event.actor, event.tenantId, event.action, event.target, event.outcome, serializeDetails(event.details), prevHash, hash],
    );
    return { ...fields, prevHash, hash };
  }

  addHook(hook: () => Promise<void> | void): () => void {
    this.#hooks.add(hook);
    return () => this.#hooks.delete(hook);
  }
}

/** The connection itself failed (not the statement): safe to try again on another one. */
function isLostConnection(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return /Connection terminated|Client has encountered a connection error|ECONNRESET|EPIPE/.test(error.message) || code === 'ECONNRESET' || code === 'EPIPE' || code === '57P01';
}

/** Our own errors pass through; anything the database throws becomes a 503 with no internals. */
export function translateError(error: unknown): Error {
  if (isClientFacing(error)) return error;
  const wrapped = new StoreUnavailableError();
  (wrapped as Error & { cause?: unknown }).cause = error;
  return wrapped;
}
