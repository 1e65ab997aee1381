// A database for a test, through the store factory: PostgreSQL in a schema of its own when
// DATABASE_URL is set (dropped afterwards), else SQLite (a file when given, or :memory:), so
// that the PostgreSQL run of CI covers the test too.

import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Env } from '../../src/config.js';
import { openStore } from '../../src/store/open-store.js';
import type { EntitleStore } from '../../src/store/store.js';

export interface TestDatabase {
  readonly kind: EntitleStore['kind'];
  /** The environment for an app or the CLI on this database. */
  readonly env: Env;
  /** A store on this database; each call opens another one, as another process would. */
  open(options?: { readonly clock?: () => number }): Promise<EntitleStore>;
  /** Runs SQL behind the store's back (a tamperer, an operator's shell): the text for this dialect. */
  raw(sql: { readonly sqlite: string; readonly postgres: string }): Promise<void>;
  /** Drops the PostgreSQL schema; nothing for SQLite. */
  drop(): Promise<void>;
}

/** @param path the SQLite file when the test runs on SQLite (default ':memory:', one store only). */
export function testDatabase(path = ':memory:'): TestDatabase {
  const url = process.env.DATABASE_URL;
  if (!url) {
    return {
      kind: 'sqlite',
      env: { ENTITLE_DB: path, DATABASE_URL: '' },
      open: (options = {}) =>
        openStore({ databasePath: path, databaseUrl: undefined, databaseSchema: undefined }, options),
      async raw(sql) {
        const db = new Database(path);
        try {
          db.exec(sql.sqlite);
        } finally {
          db.close();
        }
      },
      drop: async () => undefined,
    };
  }
  const schema = `entitle_test_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  return {
    kind: 'postgres',
    env: { ENTITLE_DB: ':memory:', DATABASE_URL: url, DATABASE_SCHEMA: schema },
    open: (options = {}) => openStore({ databasePath: ':memory:', databaseUrl: url, databaseSchema: schema }, options),
    raw: (sql) => admin(`SET search_path = "${schema}"; ${sql.postgres}`),
    drop: () => admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
  };
}
