import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/api-tokens.js';
import { openTokenCipher } from '../../src/secrets/encryption-keys.js';
import { secretContext } from '../../src/secrets/secret-context.js';
import { TokenCipher } from '../../src/secrets/token-crypto.js';
import { runCliCaptured } from '../support/cli.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';
import { testDatabase, type TestDatabase } from '../support/store.js';

describe('entitle CLI: tokens, keys, audit', () => {
  let env: Record<string, string>;
  let cwd: string;
  let database: TestDatabase;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'entitle-cli-'));
    database = testDatabase(join(cwd, 'data', 'entitle.db'));
    // On PostgreSQL too, the development key file lives beside ENTITLE_DB.
    env = {
      ...database.env,
      ENTITLE_DB: join(cwd, 'data', 'entitle.db'),
      ENTITLE_POLICIES: STARTER_POLICY_DIR,
    } as Record<string, string>;
    await cli('tenants', 'create', 'demo', '--plan', 'free');
  });
  afterEach(() => database.drop());

  const cli = (...args: string[]) => runCliCaptured(args, { env, cwd });

  function openStore() {
    return database.open();
  }

  describe('tokens', () => {
    it('creates a token shown once and stored only as its hash', async () => {
      const created = await cli('tokens', 'create', '--tenant', 'demo', '--user', 'alice', '--role', 'admin');
      expect(created.code).toBe(0);
      const token = created.stdout.trim();
      expect(token).toMatch(/^ent_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      expect(created.stderr).toContain('(admin): store it now, it cannot be shown again');
      const store = await openStore();
      expect(await store.tokens.findBySecretHash(hashToken(token))).toMatchObject({
        tenantId: 'demo',
        userId: 'alice',
        role: 'admin',
      });
      await store.close();
      if (database.kind === 'sqlite')
        expect(readFileSync(env.ENTITLE_DB as string).includes(Buffer.from(token.slice(17)))).toBe(false);
      const listed = await cli('tokens', 'list');
      expect(listed.stdout).toContain('alice');
      expect(listed.stdout).not.toContain(token.slice(17));
    });

    it('revokes a token by id', async () => {
      const token = (await cli('tokens', 'create', '--tenant', 'demo', '--user', 'bob')).stdout.trim();
      const id = token.slice(4, 16);
      expect((await cli('tokens', 'revoke', id)).stdout).toBe(`revoked token ${id}\n`);
      expect(JSON.parse((await cli('tokens', 'list', '--json')).stdout)[0].revokedAt).not.toBeNull();
    });

    it('refuses a token for a missing tenant or with an unknown role', async () => {
      expect(await cli('tokens', 'create', '--tenant', 'ghost', '--user', 'x')).toMatchObject({
        code: 1,
        stderr: 'error: Tenant "ghost" not found\n',
      });
      expect(await cli('tokens', 'create', '--tenant', 'demo', '--user', 'x', '--role', 'root')).toMatchObject({
        code: 1,
        stderr: 'error: role: must be one of member, admin, client (got "root")\n',
      });
    });
  });

  describe('audit', () => {
    it('verifies an intact chain and detects a changed row', async () => {
      await cli(
        'overrides',
        'set',
        '--tenant',
        'demo',
        '--feature',
        'can_use_webhooks',
        '--value',
        'true',
        '--reason',
        'beta',
      );
      const intact = await cli('audit', 'verify');
      expect(intact).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(/^audit log ok: 2 rows, chain intact\nhead: 2:[0-9a-f]{64} {2}\(keep it outside/),
      });
      const change = "UPDATE audit_log SET details = replace(details, 'beta', 'gamma') WHERE seq = 2";
      await database.raw({
        sqlite: `DROP TRIGGER audit_log_no_update; ${change}`,
        postgres: `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update; ${change}`,
      });
      const tampered = await cli('audit', 'verify');
      expect(tampered).toMatchObject({
        code: 1,
        stdout: 'audit log TAMPERED at row 2: content does not match its hash (the row was changed) (2 rows checked)\n',
      });
    });

    it('detects rows removed from the end against a head recorded earlier', async () => {
      await cli(
        'overrides',
        'set',
        '--tenant',
        'demo',
        '--feature',
        'can_use_webhooks',
        '--value',
        'true',
        '--reason',
        'beta',
      );
      const head = /head: (\S+)/.exec((await cli('audit', 'verify')).stdout)?.[1] as string;
      expect((await cli('audit', 'verify', '--expect-head', head)).code).toBe(0);
      // Rows can be deleted (archives do it): the chain and the anchors are what catch a removal.
      await database.raw({
        sqlite: 'DELETE FROM audit_log WHERE seq = 2',
        postgres: 'DELETE FROM audit_log WHERE seq = 2',
      });
      // The chain that is left is intact on its own…
      expect((await cli('audit', 'verify')).code).toBe(0);
      // …but the anchor shows what went missing.
      expect(await cli('audit', 'verify', '--expect-head', head)).toMatchObject({
        code: 1,
        stdout:
          'audit log TAMPERED at row 2: the anchored row is gone (rows were removed from the end) (1 rows checked)\n',
      });
      expect(await cli('audit', 'verify', '--expect-head', 'nonsense')).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('--expect-head'),
      });
    });

    it('archives rows older than a time to a file that verifies on its own, and verifies the rest from the anchor', async () => {
      await cli(
        'overrides',
        'set',
        '--tenant',
        'demo',
        '--feature',
        'can_use_webhooks',
        '--value',
        'true',
        '--reason',
        'beta',
      );
      const out = join(cwd, 'archive.jsonl');
      const archived = await cli(
        'audit',
        'archive',
        '--before',
        new Date(Date.now() + 60_000).toISOString(),
        '--out',
        out,
      );
      expect(archived).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(
          /^archived 2 rows before .* to .*archive\.jsonl; the store's chain now starts after 2:[0-9a-f]{64}\n$/,
        ),
      });
      expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(3);
      expect(await cli('audit', 'verify', '--file', out)).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(/^archive .* ok: 2 rows, chain intact/),
      });
      await cli(
        'overrides',
        'set',
        '--tenant',
        'demo',
        '--feature',
        'can_use_sso',
        '--value',
        'true',
        '--reason',
        'pilot',
      );
      expect(await cli('audit', 'verify')).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(/^audit log ok: 1 rows, chain intact\nhead: 3:/),
      });
      // An archive with its last row cut and its header rewritten to match still chains; the head
      // printed when it was written (the store's anchor) catches it.
      const head = /head: (\S+)/.exec((await cli('audit', 'verify', '--file', out)).stdout)?.[1] as string;
      expect((await cli('audit', 'verify', '--file', out, '--expect-head', head)).code).toBe(0);
      const [header, first] = readFileSync(out, 'utf8').trim().split('\n') as [string, string];
      const firstRow = JSON.parse(first) as { seq: number; hash: string };
      const cut = join(cwd, 'cut.jsonl');
      writeFileSync(
        cut,
        `${JSON.stringify({ ...JSON.parse(header), to: { seq: firstRow.seq, hash: firstRow.hash }, rows: 1 })}\n${first}\n`,
      );
      expect((await cli('audit', 'verify', '--file', cut)).code).toBe(0);
      expect(await cli('audit', 'verify', '--file', cut, '--expect-head', head)).toMatchObject({
        code: 1,
        stdout: expect.stringMatching(
          /TAMPERED at row 2: the archive ends at 1:[0-9a-f]{64}, not at the expected head 2:/,
        ),
      });
      // Nothing older than a day: nothing archived, no file.
      expect(await cli('audit', 'archive', '--before', '1d', '--out', join(cwd, 'none.jsonl'))).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(/^no audit rows before/),
      });
      expect(await cli('audit', 'archive', '--before', 'yesterday', '--out', join(cwd, 'x.jsonl'))).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('--before'),
      });
    });

    it('fails verify --file on a changed archive', async () => {
      await cli(
        'overrides',
        'set',
        '--tenant',
        'demo',
        '--feature',
        'can_use_webhooks',
        '--value',
        'true',
        '--reason',
        'beta',
      );
      const out = join(cwd, 'archive.jsonl');
      await cli('audit', 'archive', '--before', new Date(Date.now() + 60_000).toISOString(), '--out', out);
      writeFileSync(out, readFileSync(out, 'utf8').replace('beta', 'gamma'));
      expect(await cli('audit', 'verify', '--file', out)).toMatchObject({
        code: 1,
        stdout: expect.stringMatching(/TAMPERED at row 2: content does not match its hash/),
      });
    });

    it('lists rows newest first, filtered by action', async () => {
      await cli(
        'overrides',
        'set',
        '--tenant',
        'demo',
        '--feature',
        'can_use_webhooks',
        '--value',
        'true',
        '--reason',
        'beta',
      );
      const rows = JSON.parse((await cli('audit', 'list', '--action', 'override.*', '--json')).stdout);
      expect(rows).toEqual([
        expect.objectContaining({ action: 'override.set', tenantId: 'demo', target: 'feature:can_use_webhooks' }),
      ]);
    });
  });

  describe('keys', () => {
    it('generates a key entry for ENTITLE_ENCRYPTION_KEYS', async () => {
      const { stdout } = await cli('keys', 'generate', '--id', 'k2');
      expect(stdout).toMatch(/^k2:[A-Za-z0-9+/]{43}=\n$/);
    });

    it('rotates the development key file and re-encrypts every stored token, which still decrypts', async () => {
      const store = await openStore();
      const before = openTokenCipher({ keys: new Map(), activeKeyId: undefined }, env.ENTITLE_DB as string);
      await store.connections.connect(
        {
          id: 'c1',
          tenantId: 'demo',
          userId: 'alice',
          provider: 'google',
          purpose: 'calendar',
          accountEmail: 'alice@example.test',
          scopes: [],
          sealTokens: (id) => ({
            accessToken: before.encrypt('access-1', secretContext('connection.access_token', id)),
            refreshToken: before.encrypt('refresh-1', secretContext('connection.refresh_token', id)),
            expiresAt: null,
          }),
        },
        { actor: 'test' },
      );
      await store.close();
      const rotated = await cli('keys', 'rotate', '--generate');
      expect(rotated.stdout).toMatch(/^re-encrypted 2 secrets under key k\d{8}-[0-9a-f]{4}\n$/);
      const after = openTokenCipher({ keys: new Map(), activeKeyId: undefined }, env.ENTITLE_DB as string);
      const reopened = await openStore();
      const tokens = await reopened.connections.tokens('demo', 'c1');
      expect(TokenCipher.keyIdOf(tokens?.accessToken as string)).toBe(after.activeKeyId);
      expect(after.decrypt(tokens?.refreshToken as string, secretContext('connection.refresh_token', 'c1'))).toBe(
        'refresh-1',
      );
      await reopened.close();
      expect((await cli('keys', 'rotate')).stdout).toBe(`re-encrypted 0 secrets under key ${after.activeKeyId}\n`);
    });
  });
});
