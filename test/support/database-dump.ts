// Every row of every table of a store's database as text, for tests that look for what must
// never be stored (plaintext secrets) or check that nothing was left behind.

import type Database from 'better-sqlite3';
import pg from 'pg';

/** SQLite: every table's rows as JSON lines. */
export function dumpSqlite(db: Database.Database): string {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .pluck()
    .all() as string[];
  return tables
    .map(
      (table) =>
        `${table}\n${(db.prepare(`SELECT * FROM "${table}"`).all() as unknown[]).map((row) => JSON.stringify(row)).join('\n')}`,
    )
    .join('\n');
}

/** PostgreSQL: every table of the schema, each row as its text form. */
export async function dumpPostgres(url: string, schema: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = (
      await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name",
        [schema],
      )
    ).rows;
    const parts: string[] = [];
    for (const { table_name: table } of tables) {
      const rows = (await client.query<{ row: string }>(`SELECT t::text AS row FROM "${schema}"."${table}" t`)).rows;
      parts.push(table, ...rows.map((r) => r.row));
    }
    return parts.join('\n');
  } finally {
    await client.end();
  }
}
