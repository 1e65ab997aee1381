// entitle export / import / migrate: a SQLite deployment moved to another store (PostgreSQL
// when DATABASE_URL is set, another SQLite file always) keeps every tenant, override and
// connection, with the connections' tokens still encrypted and still decryptable.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { Env } from '../../src/config.js';
import { openTokenCipher } from '../../src/oauth/encryption-keys.js';
import { secretContext } from '../../src/oauth/secret-context.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { sealTokens } from '../../src/calendar/connection-tokens.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';

async function cli(env: Env, cwd: string, ...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: { ENTITLE_POLICIES: STARTER_POLICY_DIR, ...env }, cwd });
  return { code, stdout, stderr };
}

const targets: { name: string; env: () => Env; cleanup?: (env: Env) => Promise<void> }[] = [
  { name: 'another SQLite file', env: () => ({ ENTITLE_DB: join(mkdtempSync(join(tmpdir(), 'entitle-target-')), 'target.db') }) },
];
if (process.env.DATABASE_URL) {
  targets.push({
    name: 'PostgreSQL',
    env: () => ({ DATABASE_URL: process.env.DATABASE_URL as string, DATABASE_SCHEMA: `entitle_import_${randomBytes(6).toString('hex')}` }),
    cleanup: async (env) => {
      const client = new pg.Client({ connectionString: env.DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${env.DATABASE_SCHEMA}" CASCADE`);
      await client.end();
    },
  });
}

describe.each(targets)('moving a SQLite deployment to $name', ({ env: targetEnv, cleanup }) => {
  it('keeps every tenant, override and connection; tokens stay encrypted and decrypt with the same keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entitle-export-'));
    const source = { ENTITLE_DB: join(dir, 'entitle.db'), DATABASE_URL: '' };
    expect((await cli(source, dir, 'tenants', 'create', 'acme', '--plan', 'pro')).code).toBe(0);
    expect((await cli(source, dir, 'tenants', 'create', 'globex', '--plan', 'business')).code).toBe(0);
    expect((await cli(source, dir, 'overrides', 'set', '--tenant', 'acme', '--feature', 'max_connected_calendars', '--value', '5', '--reason', 'pilot', '--actor', 'ops:olivia')).code).toBe(0);
    expect((await cli(source, dir, 'overrides', 'set', '--tenant', 'globex', '--feature', 'can_use_webhooks', '--value', 'false', '--reason', 'abuse')).code).toBe(0);
    const cipher = openTokenCipher({ keys: new Map(), activeKeyId: undefined }, source.ENTITLE_DB);
    const store = SqliteStore.open({ path: source.ENTITLE_DB });
    const { connection } = await store.connections.connect(
      {
        id: 'conn-1',
        tenantId: 'acme',
        userId: 'alice',
        provider: 'google',
        purpose: 'calendar',
        accountEmail: 'alice@example.com',
        scopes: ['calendar.readonly'],
        sealTokens: (id) => sealTokens(cipher, id, { accessToken: 'access-secret', refreshToken: 'refresh-secret', expiresAt: null, scopes: [] }),
      },
      { actor: 'test' },
    );
    const sourceTokens = await store.connections.tokens('acme', connection.id);
    await store.close();

    const exported = await cli(source, dir, 'export', '--out', 'dump.json');
    expect(exported.code, exported.stderr).toBe(0);
    const target = targetEnv();
    try {
      expect((await cli(target, dir, 'migrate')).stdout).toMatch(/migrations applied/);
      const imported = await cli(target, dir, 'import', 'dump.json');
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stdout).toContain('imported 2 tenants, 2 overrides, 1 connections');
      // Importing again changes nothing and says so.
      expect((await cli(target, dir, 'import', 'dump.json')).stderr).toContain('skipped (already there): acme, globex');

      const explained = JSON.parse((await cli(target, dir, 'explain', '--tenant', 'acme', '--feature', 'max_connected_calendars', '--json')).stdout);
      expect(explained).toMatchObject({ value: 5, source: 'override', override: { reason: 'pilot', actor: 'ops:olivia' } });
      const again = JSON.parse((await cli(target, dir, 'export')).stdout);
      const acme = again.tenants.find((entry: { tenant: { id: string } }) => entry.tenant.id === 'acme');
      expect(acme.tenant.plan).toBe('pro');
      expect(acme.connections[0].connection).toMatchObject({ id: 'conn-1', accountEmail: 'alice@example.com', status: 'valid' });
      expect(acme.connections[0].tokens).toEqual(sourceTokens);
      expect(cipher.decrypt(acme.connections[0].tokens.accessToken, secretContext('connection.access_token', 'conn-1'))).toBe('access-secret');
      expect(JSON.stringify(again)).not.toContain('refresh-secret');
    } finally {
      await cleanup?.(target);
    }
  });
});
