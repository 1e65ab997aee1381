// The migrations are written once (src/store/migrations/) and worded per dialect. Existing
// databases ran the shipped SQL, so a change to it would give a fresh database another schema
// than an old one: a shipped migration's SQL must stay as it is, on each dialect, to the letter
// (SQLite keeps each CREATE statement's text, spacing and comments included, in its schema).

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Migration } from '../../src/store/migrations/migration.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/postgres-ddl.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/sqlite-ddl.js';

/** A short SHA-256 of each shipped migration's SQL, by version: add the next release's, never edit one. */
const SHIPPED = {
  sqlite: {
    1: '8e430105d540f207',
    2: '1e162c999728e2fa',
    3: '2b1a4b7bbfd8c2f5',
    4: '8a4e0445e7494624',
    5: '7c9b990c6a02b7c0',
    6: 'd1ce58d0aa774481',
    7: 'dd2c437ff4ac088a',
    8: '4284486cf4b6d8b9',
    9: '548adffee25df702',
    10: 'cbb13b9e502c4bc6',
    12: '33225934738eed8b',
    13: 'f3c7c32497c1b219',
  },
  postgres: {
    1: '4bcf8ed0f89d84a5',
    2: 'ba6a73288b578ef1',
    3: 'da1e5a3c5dae84ee',
    4: '6e7f9b868ebe5305',
    5: '2300e13cc9ad1b06',
    6: '1567b55313ef695a',
    7: 'dd2c437ff4ac088a',
    8: '9ba27ac9d0b1e8e2',
    9: '95b1e8b21f1d11f3',
    10: '52b4f81f3427d159',
    12: 'cae778eb2cd92333',
    13: '1bf388362e97f011',
  },
};

function fingerprints(
  migrations: readonly Migration[],
  shipped: Readonly<Record<number, string>>,
): Record<number, string> {
  return Object.fromEntries(
    migrations
      .filter((migration) => migration.version in shipped)
      .map((migration) => [migration.version, createHash('sha256').update(migration.sql).digest('hex').slice(0, 16)]),
  );
}

describe('the migrations, written once for both dialects', () => {
  it('give SQLite and PostgreSQL the same numbered steps, in order, with nothing left unfilled', () => {
    const steps = (migrations: readonly Migration[]) => migrations.map(({ version, name }) => ({ version, name }));
    expect(steps(SQLITE_MIGRATIONS)).toEqual(steps(POSTGRES_MIGRATIONS));
    expect(SQLITE_MIGRATIONS.map((migration) => migration.version)).toEqual(
      SQLITE_MIGRATIONS.map((_, index) => index + 1),
    );
    for (const migration of [...SQLITE_MIGRATIONS, ...POSTGRES_MIGRATIONS])
      expect(migration.sql).not.toMatch(/undefined|\[object /);
  });

  it('keep every shipped migration to the letter on each dialect', () => {
    expect(fingerprints(SQLITE_MIGRATIONS, SHIPPED.sqlite)).toEqual(SHIPPED.sqlite);
    expect(fingerprints(POSTGRES_MIGRATIONS, SHIPPED.postgres)).toEqual(SHIPPED.postgres);
    // A migration that ships is pinned here in the same change, so a later edit of it cannot pass.
    expect(SQLITE_MIGRATIONS.map((migration) => String(migration.version))).toEqual(Object.keys(SHIPPED.sqlite));
    expect(POSTGRES_MIGRATIONS.map((migration) => String(migration.version))).toEqual(Object.keys(SHIPPED.postgres));
  });

  it("keep each dialect's words to itself: STRICT tables and plain triggers on SQLite, BIGINT and PL/pgSQL on PostgreSQL", () => {
    const [sqlite, postgres] = [SQLITE_MIGRATIONS, POSTGRES_MIGRATIONS].map((migrations) =>
      migrations.map((migration) => migration.sql).join('\n'),
    );
    expect(sqlite).not.toMatch(/BIGINT|plpgsql|pg_notify/);
    expect(postgres).not.toMatch(/STRICT|AUTOINCREMENT|RAISE\(ABORT/);
  });
});
