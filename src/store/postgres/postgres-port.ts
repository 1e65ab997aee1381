// The SQL port over PostgreSQL: the pool and its bounds, migrations under an advisory lock,
// write transactions serialized by the schema's advisory write lock, retries of reads that met
// a connection lost while idle, and database failures turned into StoreUnavailableError.

import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Migration } from '../migrations/migration.js';
import type { SqlExecutor, SqlParam, SqlPort, SqlRow, SqlRunResult, SqlValue } from '../sql-port.js';
import { translateError } from '../store-errors.js';
import { POSTGRES_MIGRATIONS } from './postgres-ddl.js';

/** Any connection that can run a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/** "entl" in ASCII: the base of the advisory lock keys. */
const LOCK_BASE = 0x656e746c;

/**
 * The advisory lock keys of one schema. Advisory locks are database-wide, so each schema gets
 * keys of its own (from a hash of its name): deployments (or tests) sharing a database in
 * different schemas do not serialize each other's writes.
 */
export function lockKeys(schema: string | undefined): { write: string; migration: string } {
  if (schema === undefined) return { write: String(LOCK_BASE), migration: String(LOCK_BASE + 1) };
  // A bigint key (pg_advisory_xact_lock(bigint)) from the name; the lowest bit tells write from migration.
  const key = createHash('sha256').update(schema).digest().readBigInt64BE(0) & ~1n;
  return { write: String(key), migration: String(key | 1n) };
}

/** How long one statement may take before the client gives up on it (a silent partition). */
export const QUERY_TIMEOUT_MS = 5_000;
/** A read, or the start of a transaction, that met a connection which died while idle is tried this often. */
const ATTEMPTS = 2;
/** How long opening a connection may take. */
export const CONNECT_TIMEOUT_MS = 5_000;

export interface PostgresOptions {
  /** postgres://user@host:port/database */
  readonly url: string;
  /** A schema of its own (created when missing); default: the connection's search_path. */
  readonly schema?: string;
  readonly clock?: () => number;
  readonly maxConnections?: number;
  /** Client-side bound on one statement (default {@link QUERY_TIMEOUT_MS}). */
  readonly queryTimeoutMs?: number;
  /** Bound on opening a connection (default {@link CONNECT_TIMEOUT_MS}). */
  readonly connectTimeoutMs?: number;
  /** How often the change listener checks the database answers (default 1 s; a check may take twice that). */
  readonly heartbeatMs?: number;
}

export function quoteIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new Error(`not a valid schema name: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/**
 * Client settings for a pool or a listener: the schema as search_path when one is given, and
 * bounds everywhere, so that a silent network partition (sockets open, nothing answering)
 * becomes an error in seconds instead of a wait for the operating system's TCP timeout.
 */
export function clientConfig(options: PostgresOptions): pg.ClientConfig {
  const queryTimeout = options.queryTimeoutMs ?? QUERY_TIMEOUT_MS;
  const settings = [
    ...(options.schema ? [`search_path=${quoteIdentifier(options.schema)}`] : []),
    // The server's side of the same bounds: it cancels a statement the client gave up on,
    // ends a transaction whose client vanished (freeing the write lock for other instances),
    // and probes an idle peer every few seconds.
    `statement_timeout=${queryTimeout}`,
    `idle_in_transaction_session_timeout=${queryTimeout * 2}`,
    'tcp_keepalives_idle=5',
    'tcp_keepalives_interval=2',
    'tcp_keepalives_count=3',
  ];
  return {
    connectionString: options.url,
    // Node sets only the first probe's delay; the listener's heartbeat and query_timeout do the rest.
    keepAlive: true,
    keepAliveInitialDelayMillis: 5_000,
    connectionTimeoutMillis: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    query_timeout: queryTimeout,
    options: settings.map((setting) => `-c ${setting}`).join(' '),
  };
}

export async function openPool(
  options: PostgresOptions,
  migrations: readonly Migration[] = POSTGRES_MIGRATIONS,
): Promise<pg.Pool> {
  await migrate(options, migrations);
  const pool = new pg.Pool({ ...clientConfig(options), max: options.maxConnections ?? 10 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** On a connection of its own, without the statement bounds: a migration may take its time. */
async function migrate(options: PostgresOptions, migrations: readonly Migration[]): Promise<void> {
  const { query_timeout: _query, ...config } = clientConfig(options);
  const client = new pg.Client({ ...config, options: `${config.options ?? ''} -c statement_timeout=0` });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [lockKeys(options.schema).migration]);
    // Under the lock: two instances opening a new schema together do not race to create it.
    if (options.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(options.schema)}`);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    const applied = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => row.version),
    );
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        new Date().toISOString(),
      ]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Named prepared statements kept per SQL text (pg prepares each once per pooled connection). */
const CACHE_LIMIT = 500;

/**
 * The SQL port over a pg pool: writes in one transaction holding the schema's advisory write
 * lock (so the audit chain and the change feed keep commit order across instances), reads
 * retried once on a connection that died while idle, database failures as StoreUnavailableError.
 */
export class PostgresPort implements SqlPort {
  readonly dialect = 'postgres' as const;
  readonly sql = {
    byteOrder: ' COLLATE "C"',
    inList: (column: string, placeholder: string) => `${column} = ANY(${placeholder})`,
  };
  readonly #names = new Map<string, string>();

  constructor(
    readonly pool: pg.Pool,
    /** This schema's write lock key (see {@link lockKeys}). */
    readonly writeLock: string = lockKeys(undefined).write,
  ) {}

  all<Row extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]): Promise<Row[]> {
    return this.#read(async (db) => (await this.#query<Row>(db, sql, params)).rows);
  }

  get<Row extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]): Promise<Row | undefined> {
    return this.#read(async (db) => (await this.#query<Row>(db, sql, params)).rows[0]);
  }

  run(sql: string, params?: readonly SqlParam[]): Promise<SqlRunResult> {
    return this.#read(async (db) => ({ changes: (await this.#query(db, sql, params)).rowCount ?? 0 }));
  }

  /** Runs `work` in one transaction holding the write lock. */
  async write<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.#begin('BEGIN');
    let result: T;
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [this.writeLock]);
      result = await work(this.#executor(client));
      await client.query('COMMIT');
    } catch (error) {
      client.release(await rollback(client, error));
      throw translateError(error);
    }
    client.release();
    return result;
  }

  /** Runs `work` in one read-only transaction: one snapshot of the whole database. */
  async snapshot<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.#begin('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const result = await work(this.#executor(client));
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      client.release(await rollback(client, error));
      throw translateError(error);
    }
  }

  list(values: readonly SqlValue[]): SqlParam {
    return values;
  }

  isConstraintError(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' && code.startsWith('23');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  #executor(client: Queryable): SqlExecutor {
    return {
      all: async <Row extends SqlRow>(sql: string, params?: readonly SqlParam[]) =>
        (await this.#query<Row>(client, sql, params)).rows,
      get: async <Row extends SqlRow>(sql: string, params?: readonly SqlParam[]) =>
        (await this.#query<Row>(client, sql, params)).rows[0],
      run: async (sql: string, params?: readonly SqlParam[]) => ({
        changes: (await this.#query(client, sql, params)).rowCount ?? 0,
      }),
    };
  }

  /** A query as a named prepared statement: parsed and planned once per connection. */
  #query<Row extends SqlRow>(
    db: Queryable,
    text: string,
    params: readonly SqlParam[] = [],
  ): Promise<pg.QueryResult<Row>> {
    let name = this.#names.get(text);
    if (name === undefined && this.#names.size < CACHE_LIMIT) {
      name = `entitle_${this.#names.size}`;
      this.#names.set(text, name);
    }
    const values = params as unknown[];
    return name === undefined ? db.query<Row>(text, values) : db.query<Row>({ name, text, values });
  }

  /**
   * A read on the pool, with database failures as 503. A read that met a pooled connection
   * which died while idle (the pool learns of it only then) is tried once more on a fresh one.
   */
  async #read<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work(this.pool);
      } catch (error) {
        if (attempt === ATTEMPTS || !isLostConnection(error)) throw translateError(error);
      }
    }
  }

  /** A pooled client inside a transaction just begun; a connection that died while idle is replaced once. */
  async #begin(statement: string): Promise<pg.PoolClient> {
    try {
      for (let attempt = 1; ; attempt++) {
        const client = await this.pool.connect();
        try {
          await client.query(statement);
          return client;
        } catch (error) {
          client.release(error instanceof Error ? error : true);
          // Nothing has been done yet: a lost connection is replaced and the work goes on.
          if (attempt === ATTEMPTS || !isLostConnection(error)) throw error;
        }
      }
    } catch (error) {
      throw translateError(error);
    }
  }
}

/**
 * Ends a failed transaction. Returns what to release the client with: nothing when the
 * connection is fine, the error when it is not (the pool then discards it). A connection that
 * is gone or did not answer in time gets no ROLLBACK: it would only wait once more.
 */
async function rollback(client: pg.PoolClient, error: unknown): Promise<Error | undefined> {
  if (isLostConnection(error) || isTimeout(error)) return error instanceof Error ? error : new Error(String(error));
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (failure) {
    return failure instanceof Error ? failure : new Error(String(failure));
  }
}

/** The client gave up waiting (query_timeout, connectionTimeoutMillis): the connection cannot be trusted. */
function isTimeout(error: unknown): boolean {
  return error instanceof Error && /Query read timeout|timeout expired|due to connection timeout/.test(error.message);
}

/** The connection itself failed (not the statement): safe to try again on another one. */
function isLostConnection(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    /Connection terminated|Client has encountered a connection error|ECONNRESET|EPIPE/.test(error.message) ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === '57P01'
  );
}
