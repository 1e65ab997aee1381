// SQLite's words for the shared migrations (src/store/migrations/): STRICT tables and plain
// triggers. SQLite keeps each trigger's text, so these keep the spacing they shipped with.

import type { CheckChange, SchemaDialect } from '../migrations/migration.js';
import { migrationsFor } from '../migrations/migrations.js';

const EVENTS = [
  ['INSERT', 'NEW'],
  ['UPDATE', 'NEW'],
  ['DELETE', 'OLD'],
] as const;

export const SQLITE_DDL: SchemaDialect = {
  strict: ' STRICT',
  bigint: 'INTEGER',
  // AUTOINCREMENT: seq only grows, never reusing a deleted row's number (as PostgreSQL's identity).
  serialKey: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  auditAppendOnly: `CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;`,
  auditArchivable: 'DROP TRIGGER audit_log_no_delete;',
  changeFeed: '',
  changesOn: (table, column) =>
    EVENTS.map(
      ([event, row]) => `CREATE TRIGGER ${table}_changed_${event.toLowerCase()} AFTER ${event} ON ${table}
        BEGIN INSERT INTO changes(tenant_id) VALUES (${row}.${column}); END;`,
    ).join('\n      '),
  // The watch on PRAGMA data_version sees every commit, token changes included.
  tokenChanges: '',
  changeCheck: rebuildTable,
};

/**
 * SQLite cannot alter a CHECK constraint: the table is rebuilt, inside the migration's
 * transaction. Foreign keys stay on, so no other table may reference the rebuilt one.
 */
function rebuildTable({ table, createTable, columns, indexes }: CheckChange): string {
  const list = columns.join(', ');
  return `${createTable(`${table}_new`)}
      INSERT INTO ${table}_new (${list})
        SELECT ${list} FROM ${table};
      DROP TABLE ${table};
      ALTER TABLE ${table}_new RENAME TO ${table};
      ${indexes}`;
}

export const SQLITE_MIGRATIONS = migrationsFor(SQLITE_DDL);
