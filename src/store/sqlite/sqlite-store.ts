// The embedded default store: one SQLite file (WAL mode) shared by the server and the CLI.
// Here only what is SQLite's own: opening the file, its migrations, and noticing another
// process's writes by polling `PRAGMA data_version`.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Migration } from '../migrations/migration.js';
import { SqlStore } from '../sql-store.js';
import { SQLITE_MIGRATIONS } from './sqlite-ddl.js';
import { SqlitePort } from './sqlite-port.js';

/** How often to look for other processes' writes. The gate promises 100 ms; this leaves room. */
export const WATCH_INTERVAL_MS = 20;

export interface SqliteOptions {
  /** A file path, or ':memory:' for tests. */
  readonly path: string;
  /** Milliseconds since the epoch; tests pass a fixed clock. */
  readonly clock?: () => number;
}

/** Opens the database file (creating its directory), sets pragmas and applies migrations. */
export function openSqlite(path: string, migrations: readonly Migration[] = SQLITE_MIGRATIONS): Database.Database {
  if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // In WAL mode NORMAL loses nothing when the process dies; only an OS crash can cost the last commits.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT',
  );
  const applied = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?');
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.get(migration.version)) continue;
    db.transaction(() => {
      // Another process may have applied it while we waited for the write lock.
      if (applied.get(migration.version)) return;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        new Date().toISOString(),
      );
    }).immediate();
  }
  return db;
}

export class SqliteStore extends SqlStore {
  private constructor(
    readonly db: Database.Database,
    clock: (() => number) | undefined,
  ) {
    const dataVersion = db.prepare('PRAGMA data_version').pluck();
    super({
      port: new SqlitePort(db),
      clock,
      // data_version changes when another connection commits; our own writes run the after-write hooks.
      watch: (signal) => {
        let seen = dataVersion.get();
        const timer = setInterval(() => {
          if (!db.open) return;
          const now = dataVersion.get();
          if (now === seen) return;
          seen = now;
          signal();
        }, WATCH_INTERVAL_MS);
        timer.unref();
        return () => clearInterval(timer);
      },
    });
  }

  /** Opens (and migrates) the database at `options.path`. */
  static open(options: SqliteOptions): SqliteStore {
    return new SqliteStore(openSqlite(options.path), options.clock);
  }
}
