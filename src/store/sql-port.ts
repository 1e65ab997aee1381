// The small SQL port every repository is written against, once for both dialects. A dialect
// (store/sqlite, store/postgres) implements it over its driver: `$1, $2 …` placeholders in
// every statement, statements prepared once per connection (a cache keyed by the SQL text),
// write transactions serialized across processes/instances, and the few SQL fragments that
// really differ between the two databases.

/** A value bound to a placeholder or read from a column. Timestamps are ISO text, JSON is text. */
export type SqlValue = string | number | bigint | null;

/** What a placeholder takes: a value, or a list made by {@link SqlPort.list} for {@link SqlFragments.inList}. */
export type SqlParam = SqlValue | readonly SqlValue[];

/** A row as the database returns it: column name → value. */
export type SqlRow = Record<string, unknown>;

/** What a statement that writes reports. */
export interface SqlRunResult {
  /** Rows inserted, updated or deleted. */
  readonly changes: number;
}

/** Runs statements: on the port itself (outside a transaction) or inside one. */
export interface SqlExecutor {
  /** Every row the statement returns. */
  all<Row extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]): Promise<Row[]>;
  /** The first row, or undefined. */
  get<Row extends SqlRow = SqlRow>(sql: string, params?: readonly SqlParam[]): Promise<Row | undefined>;
  /** A statement run for its effect. */
  run(sql: string, params?: readonly SqlParam[]): Promise<SqlRunResult>;
}

/** SQL that is not the same text on both databases, as fragments to splice into statements. */
export interface SqlFragments {
  /**
   * Byte-order comparison of text (` COLLATE "C"` on PostgreSQL, nothing on SQLite), for stable
   * paging: written right after a column, leading space included (`ORDER BY id${sql.byteOrder}`).
   */
  readonly byteOrder: string;
  /**
   * A condition "column is one of the values in the parameter", the parameter bound with
   * {@link SqlPort.list}: `column = ANY($n)` on PostgreSQL, `column IN (SELECT value FROM json_each($n))` on SQLite.
   */
  inList(column: string, placeholder: string): string;
}

export interface SqlPort extends SqlExecutor {
  readonly dialect: 'sqlite' | 'postgres';
  readonly sql: SqlFragments;
  /**
   * Runs `work` in one write transaction, serialized with every other writer of the database
   * (SQLite: BEGIN IMMEDIATE and one transaction at a time on the connection; PostgreSQL: the
   * schema's advisory write lock). Commits when `work` resolves, rolls back when it throws:
   * a failing write leaves the store unchanged. Database failures surface as StoreUnavailableError.
   */
  write<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Runs `work` on one consistent, read-only view of the database. */
  snapshot<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Binds a list of values for {@link SqlFragments.inList}. */
  list(values: readonly SqlValue[]): SqlParam;
  /** Whether a driver error (thrown inside {@link write}) is a broken constraint: a bad row, not a database failure. */
  isConstraintError(error: unknown): boolean;
  close(): Promise<void>;
}
