// A numbered schema change, written once for both dialects (migrations.ts), and the few things
// each dialect says its own way (src/store/sqlite/sqlite-ddl.ts, src/store/postgres/postgres-ddl.ts).

/** A migration as written once: its DDL is a function of the words each dialect says its own way. */
export interface MigrationSource {
  readonly version: number;
  readonly name: string;
  readonly up: (d: SchemaDialect) => string;
}

/** A migration in one dialect's words, as applied. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** A table's CHECK constraint replaced by another. */
export interface CheckChange {
  readonly table: string;
  /** Its name on PostgreSQL, which names an inline CHECK `<table>_<column>_check`. */
  readonly constraint: string;
  /** The new condition. */
  readonly check: string;
  /** The table as it becomes, created under `name`: SQLite cannot alter a CHECK, so it rebuilds the table. */
  readonly createTable: (name: string) => string;
  /** The columns a rebuild copies. */
  readonly columns: readonly string[];
  /** The indexes a rebuild drops with the old table and creates again. */
  readonly indexes: string;
}

/** What the migrations cannot say in the same words on SQLite and PostgreSQL. */
export interface SchemaDialect {
  /** After a CREATE TABLE's closing parenthesis: SQLite's ` STRICT` (declared types enforced). */
  readonly strict: string;
  /** A 64-bit integer column (SQLite's INTEGER already is one; PostgreSQL's is 32 bits). */
  readonly bigint: string;
  /** A key numbered by the database, never reused: the change feed's cursor. */
  readonly serialKey: string;
  /** Makes audit_log refuse updates and deletes. */
  readonly auditAppendOnly: string;
  /** From migration 4: audit_log still refuses updates, but archiving deletes old rows. */
  readonly auditArchivable: string;
  /** What the change feed's triggers need first (PostgreSQL: the function they call). */
  readonly changeFeed: string;
  /** Triggers that record every insert, update and delete on `table` in `changes`, under its tenant column. */
  changesOn(table: string, tenantColumn: string): string;
  /** What tells other instances an API token changed (PostgreSQL: a NOTIFY; SQLite's watch sees every commit). */
  readonly tokenChanges: string;
  /** Replaces a table's CHECK constraint, keeping its rows. */
  changeCheck(change: CheckChange): string;
}
