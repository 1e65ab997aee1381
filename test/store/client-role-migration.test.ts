// Migration 3 (the client role) on a database created before it: tokens survive unchanged, the
// new role is accepted, unknown roles are still refused; and `entitle tokens create --role client`.
// PostgreSQL runs when DATABASE_URL is set, in a schema of its own that is dropped afterwards.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { hashToken, issueApiToken } from '../../src/auth/api-tokens.js';
import { openPool } from '../../src/store/postgres/postgres-port.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/postgres-ddl.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/sqlite-ddl.js';
import { openSqlite } from '../../src/store/sqlite/sqlite-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { ApiToken, EntitleStore } from '../../src/store/store.js';
import { runCliCaptured } from '../support/cli.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';

const URL = process.env.DATABASE_URL;
const BEFORE = (version: number) => version < 3;
const ctx = { actor: 'test' };

const TENANT = ['acme', 'Acme', 'pro', '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z'];
const TOKENS = [
  ['aaaaaaaaaaaa', 'acme', 'alice', 'member', 'laptop', hashToken('a'), '2030-01-01T00:00:00.000Z', null, null],
  [
    'bbbbbbbbbbbb',
    'acme',
    'olivia',
    'admin',
    null,
    hashToken('b'),
    '2030-01-02T00:00:00.000Z',
    '2031-01-01T00:00:00.000Z',
    '2030-01-03T00:00:00.000Z',
  ],
];
const EXPECTED: ApiToken[] = [
  {
    id: 'aaaaaaaaaaaa',
    tenantId: 'acme',
    userId: 'alice',
    role: 'member',
    name: 'laptop',
    createdAt: '2030-01-01T00:00:00.000Z',
    expiresAt: null,
    revokedAt: null,
  },
  {
    id: 'bbbbbbbbbbbb',
    tenantId: 'acme',
    userId: 'olivia',
    role: 'admin',
    name: null,
    createdAt: '2030-01-02T00:00:00.000Z',
    expiresAt: '2031-01-01T00:00:00.000Z',
    revokedAt: '2030-01-03T00:00:00.000Z',
  },
];

/** What both stores must show after the migration. */
async function checkMigrated(store: EntitleStore, insertRole: (role: string) => Promise<unknown>): Promise<void> {
  expect(await store.tokens.list({ tenantId: 'acme' })).toEqual(EXPECTED);
  expect(await store.tokens.findBySecretHash(hashToken('a'))).toEqual(EXPECTED[0]);
  const { record } = await issueApiToken(store, { tenantId: 'acme', userId: 'unleash-sdk', role: 'client' }, ctx);
  expect(record.role).toBe('client');
  await expect(insertRole('root')).rejects.toThrow(/check/i);
  // The tenant's tokens still go with it.
  await store.tenants.delete('acme', ctx);
  expect(await store.tokens.list({ tenantId: 'acme' })).toEqual([]);
}

describe('migration 3: the client role', () => {
  it('on SQLite, rebuilds api_tokens keeping every token', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'entitle-migrate-')), 'entitle.db');
    const old = openSqlite(
      path,
      SQLITE_MIGRATIONS.filter((migration) => BEFORE(migration.version)),
    );
    old.prepare('INSERT INTO tenants (id, name, plan, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(...TENANT);
    const insert = old.prepare(
      'INSERT INTO api_tokens (id, tenant_id, user_id, role, name, secret_hash, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (const token of TOKENS) insert.run(...token);
    expect(() =>
      insert.run('cccccccccccc', 'acme', 'x', 'client', null, hashToken('c'), '2030-01-01T00:00:00.000Z', null, null),
    ).toThrow(/CHECK/);
    old.close();

    const store = SqliteStore.open({ path });
    try {
      expect(
        store.db
          .prepare(
            "SELECT name FROM sqlite_master WHERE tbl_name = 'api_tokens' AND type = 'index' AND name NOT LIKE 'sqlite_%'",
          )
          .pluck()
          .all(),
      ).toEqual(['api_tokens_by_tenant']);
      expect(store.db.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get()).toBeGreaterThanOrEqual(3);
      await checkMigrated(store, async () =>
        store.db
          .prepare(
            "INSERT INTO api_tokens (id, tenant_id, user_id, role, secret_hash, created_at) VALUES ('dddddddddddd', 'acme', 'x', ?, 'h', 'now')",
          )
          .run('root'),
      );
    } finally {
      await store.close();
    }
  });

  it.skipIf(!URL)('on PostgreSQL, widens the check constraint keeping every token', async () => {
    const schema = `entitle_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: URL });
    await admin.connect();
    try {
      const old = await openPool(
        { url: URL as string, schema },
        POSTGRES_MIGRATIONS.filter((migration) => BEFORE(migration.version)),
      );
      await old.query(
        'INSERT INTO tenants (id, name, plan, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)',
        TENANT,
      );
      for (const token of TOKENS) {
        await old.query(
          'INSERT INTO api_tokens (id, tenant_id, user_id, role, name, secret_hash, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
          token,
        );
      }
      await expect(
        old.query(
          "INSERT INTO api_tokens (id, tenant_id, user_id, role, secret_hash, created_at) VALUES ('cccccccccccc', 'acme', 'x', 'client', 'h', 'now')",
        ),
      ).rejects.toThrow(/check/i);
      await old.end();

      const store = await PostgresStore.open({ url: URL as string, schema });
      try {
        await checkMigrated(store, () =>
          admin.query(
            `INSERT INTO "${schema}".api_tokens (id, tenant_id, user_id, role, secret_hash, created_at) VALUES ('dddddddddddd', 'acme', 'x', 'root', 'h2', 'now')`,
          ),
        );
      } finally {
        await store.close();
      }
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  });
});

describe('entitle tokens create --role', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'entitle-cli-role-'));
  const env = { ENTITLE_DB: join(cwd, 'entitle.db'), ENTITLE_POLICIES: STARTER_POLICY_DIR };
  const cli = (...args: string[]) => runCliCaptured(args, { env, cwd });

  it('creates a client token, and names the allowed roles for a bad one', async () => {
    expect((await cli('tenants', 'create', 'ops', '--plan', 'free')).code).toBe(0);
    const created = await cli('tokens', 'create', '--tenant', 'ops', '--user', 'unleash-sdk', '--role', 'client');
    expect(created.code).toBe(0);
    expect(created.stderr).toContain('(client): store it now');
    const bad = await cli('tokens', 'create', '--tenant', 'ops', '--user', 'x', '--role', 'root');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('role: must be one of member, admin, client, service (got "root")');
  });
});
