// The SQL port over better-sqlite3: `$n` placeholders translated once per SQL text, statements
// prepared once per connection, write transactions BEGIN IMMEDIATE (the write lock up front, so
// two processes never deadlock upgrading a read lock). One connection serves every caller: an
// async mutex lets one transaction run at a time, and a read outside a transaction waits while
// one is open, so it never sees another caller's uncommitted rows.

import type Database from 'better-sqlite3';
import type { SqlExecutor, SqlParam, SqlPort, SqlRow, SqlRunResult, SqlValue } from '../sql-port.js';
import { translateError } from '../store-errors.js';

/** Prepared statements kept per connection. */
const CACHE_LIMIT = 500;

interface Prepared {
  readonly statement: Database.Statement;
  /** Which parameter each `?` takes, when not simply the next one ($2 before $1, or $1 twice). */
  readonly order: readonly number[] | undefined;
}

export class SqlitePort implements SqlPort {
  readonly dialect = 'sqlite' as const;
  readonly sql = {
    byteOrder: '',
    inList: (column: string, placeholder: string) => `${column} IN (SELECT value FROM json_each(${placeholder}))`,
  };
  readonly #cache = new Map<string, Prepared>();
  readonly #begin;
  readonly #beginRead;
  readonly #commit;
  readonly #rollback;
  /** Whether a transaction is open; who waits for it to end (a promise only when someone waits). */
  #open = false;
  #waiters: (() => void)[] = [];
  /** Statements inside the open transaction: they run at once, the mutex is theirs. */
  readonly #tx: SqlExecutor = {
    all: async <Row extends SqlRow>(sql: string, params?: readonly SqlParam[]) => this.#all<Row>(sql, params),
    get: async <Row extends SqlRow>(sql: string, params?: readonly SqlParam[]) => this.#get<Row>(sql, params),
    run: async (sql: string, params?: readonly SqlParam[]) => this.#run(sql, params),
  };

  constructor(readonly db: Database.Database) {
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#beginRead = db.prepare('BEGIN');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
  }

  async all<Row extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]): Promise<Row[]> {
    while (this.#open) await this.#idle();
    try {
      return this.#all<Row>(sql, params);
    } catch (error) {
      throw translateError(error);
    }
  }

  async get<Row extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]): Promise<Row | undefined> {
    while (this.#open) await this.#idle();
    try {
      return this.#get<Row>(sql, params);
    } catch (error) {
      throw translateError(error);
    }
  }

  async run(sql: string, params?: readonly SqlParam[]): Promise<SqlRunResult> {
    while (this.#open) await this.#idle();
    try {
      return this.#run(sql, params);
    } catch (error) {
      throw translateError(error);
    }
  }

  write<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#transaction(this.#begin, work);
  }

  /** A deferred read transaction: one consistent view (WAL) while other processes write. */
  snapshot<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#transaction(this.#beginRead, work);
  }

  list(values: readonly SqlValue[]): SqlParam {
    return JSON.stringify(values);
  }

  isConstraintError(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' && (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH');
  }

  async close(): Promise<void> {
    while (this.#open) await this.#idle();
    if (this.db.open) this.db.close();
  }

  async #transaction<T>(begin: Database.Statement, work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    while (this.#open) await this.#idle();
    this.#open = true;
    try {
      begin.run();
      const result = await work(this.#tx);
      this.#commit.run();
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.#rollback.run();
      throw translateError(error);
    } finally {
      this.#open = false;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves when the open transaction ends; callers check again (another waiter may have opened one first). */
  #idle(): Promise<void> {
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  #prepare(sql: string): Prepared {
    let prepared = this.#cache.get(sql);
    if (!prepared) {
      const order: number[] = [];
      const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
        order.push(Number(n) - 1);
        return '?';
      });
      prepared = { statement: this.db.prepare(text), order: order.every((n, i) => n === i) ? undefined : order };
      // Texts built from data (an import's last batch) must not grow the cache without bound.
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(sql, prepared);
    }
    return prepared;
  }

  #bind(prepared: Prepared, params: readonly SqlParam[] = []): SqlParam[] {
    const { order } = prepared;
    return (order ? order.map((n) => params[n] ?? null) : params) as SqlParam[];
  }

  #all<Row>(sql: string, params?: readonly SqlParam[]): Row[] {
    const prepared = this.#prepare(sql);
    return prepared.statement.all(...this.#bind(prepared, params)) as Row[];
  }

  #get<Row>(sql: string, params?: readonly SqlParam[]): Row | undefined {
    const prepared = this.#prepare(sql);
    return prepared.statement.get(...this.#bind(prepared, params)) as Row | undefined;
  }

  #run(sql: string, params?: readonly SqlParam[]): SqlRunResult {
    const prepared = this.#prepare(sql);
    return { changes: prepared.statement.run(...this.#bind(prepared, params)).changes };
  }
}
