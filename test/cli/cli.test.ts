import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entryArgs } from '../support/child-server.js';
import { runCliCaptured } from '../support/cli.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';
import { testDatabase, type TestDatabase } from '../support/store.js';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('entitle CLI', () => {
  let env: Record<string, string>;
  let cwd: string;
  let database: TestDatabase;

  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'entitle-cli-'));
    database = testDatabase(join(cwd, 'entitle.db'));
    env = { ...database.env, ENTITLE_DB: join(cwd, 'entitle.db'), ENTITLE_POLICIES: STARTER_POLICY_DIR } as Record<
      string,
      string
    >;
  });
  afterEach(() => database.drop());

  const cli = (...args: string[]) => runCliCaptured(args, { env, cwd });

  describe('validate', () => {
    it('passes the shipped policy', async () => {
      const { code, stdout } = await cli('validate');
      expect(code).toBe(0);
      expect(stdout).toMatch(/^policy ok: 11 features, 4 plans, version [0-9a-f]{16}\n$/);
    });

    it('exits 1 naming file:line:column for a broken copy, as text and as JSON', async () => {
      const broken = join(cwd, 'broken');
      cpSync(STARTER_POLICY_DIR, broken, { recursive: true });
      writeFileSync(join(broken, 'extra.yaml'), 'plans:\n  gold:\n    extends: diamond\n');
      const text = await cli('validate', 'broken');
      expect(text.code).toBe(1);
      expect(text.stdout).toBe('broken/extra.yaml:3:14: plans.gold.extends: unknown plan "diamond"\n');
      expect(text.stderr).toBe('1 issue found\n');
      const json = await cli('validate', 'broken', '--format', 'json');
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toEqual({
        ok: false,
        issues: [
          { file: 'broken/extra.yaml', line: 3, column: 14, message: 'plans.gold.extends: unknown plan "diamond"' },
        ],
      });
    });

    it('exits 2 on a bad option value', async () => {
      expect((await cli('validate', '--format', 'xml')).code).toBe(2);
    });
  });

  describe('tenants, overrides and explain', () => {
    it('walks a fresh database through default false, override true, expired override gone', async () => {
      const first = await cli('explain', '--tenant', 'demo', '--feature', 'can_use_calendar_sync', '--json');
      expect(first.stderr).toBe(
        'empty database: created tenant "demo" on plan free (development only; ENTITLE_SEED_DEMO=false turns this off)\n',
      );
      const before = JSON.parse(first.stdout);
      expect(before).toMatchObject({
        value: false,
        variant: 'default',
        source: 'default',
        cause: 'NOT_IN_PLAN',
        plan: 'free',
        requiredPlan: 'pro',
      });

      const set = await cli(
        'overrides',
        'set',
        '--tenant',
        'demo',
        '--feature',
        'can_use_calendar_sync',
        '--value',
        'true',
        '--reason',
        'trial',
      );
      expect(set.code).toBe(0);
      const after = JSON.parse(
        (await cli('explain', '--tenant', 'demo', '--feature', 'can_use_calendar_sync', '--json')).stdout,
      );
      expect(after).toMatchObject({
        value: true,
        variant: 'override',
        source: 'override',
        cause: 'GRANTED_BY_OVERRIDE',
        override: { reason: 'trial', expiresAt: null },
      });

      // An override that has expired by the time of the next decision no longer applies.
      const expire = "UPDATE overrides SET expires_at = '2000-01-01T00:00:00.000Z'";
      await database.raw({ sqlite: expire, postgres: expire });
      const expired = JSON.parse(
        (await cli('explain', '--tenant', 'demo', '--feature', 'can_use_calendar_sync', '--json')).stdout,
      );
      expect(expired).toMatchObject({ value: false, variant: 'default' });
      expect((await cli('overrides', 'list')).stdout).toContain('(expired)');
    });

    it.each([
      ['in production', { NODE_ENV: 'production' }],
      ['when turned off', { ENTITLE_SEED_DEMO: 'false' }],
    ])('seeds no demo tenant %s', async (_, extra) => {
      env = { ...env, ...extra };
      expect(
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
          'x',
        ),
      ).toEqual({
        code: 1,
        stdout: '',
        stderr: 'error: Tenant "demo" not found\n',
      });
    });

    it('seeds no demo tenant into a database that has tenants, nor on tenants create', async () => {
      await cli('tenants', 'create', 'acme', '--plan', 'free');
      expect(
        (
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
            'x',
          )
        ).code,
      ).toBe(1);
      expect(JSON.parse((await cli('tenants', 'list', '--json')).stdout).map((t: { id: string }) => t.id)).toEqual([
        'acme',
      ]);
    });

    it('changes a plan and lists tenants', async () => {
      await cli('tenants', 'create', 'acme', '--plan', 'free');
      expect((await cli('tenants', 'set-plan', 'acme', 'business')).stdout).toBe(
        'tenant acme: plan free@1 → business@1\n',
      );
      const listed = JSON.parse((await cli('tenants', 'list', '--json')).stdout);
      expect(listed).toEqual([expect.objectContaining({ id: 'acme', name: 'acme', plan: 'business' })]);
      const explained = JSON.parse((await cli('explain', '--tenant', 'acme', '--json')).stdout);
      expect(explained).toHaveLength(11);
      expect(explained.find((e: { feature: string }) => e.feature === 'can_use_webhooks')).toMatchObject({
        value: true,
        variant: 'plan:business',
      });
    });

    it('sets an override with a relative expiry and clears it', async () => {
      await cli('tenants', 'create', 'acme', '--plan', 'free');
      const set = await cli(
        'overrides',
        'set',
        '--tenant',
        'acme',
        '--feature',
        'max_connected_calendars',
        '--value',
        '3',
        '--reason',
        'pilot',
        '--expires',
        '7d',
      );
      expect(set.stdout).toMatch(/^override set: acme max_connected_calendars = 3 until \d{4}-.*Z \(version 1\)\n$/);
      const listed = JSON.parse((await cli('overrides', 'list', '--tenant', 'acme', '--json')).stdout);
      expect(Date.parse(listed[0].expiresAt) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
      expect((await cli('overrides', 'clear', '--tenant', 'acme', '--feature', 'max_connected_calendars')).code).toBe(
        0,
      );
      expect(JSON.parse((await cli('overrides', 'list', '--json')).stdout)).toEqual([]);
    });

    it('rejects bad input with a clear message and changes nothing', async () => {
      await cli('tenants', 'create', 'acme', '--plan', 'free');
      expect(await cli('tenants', 'create', 'other', '--plan', 'platinum')).toMatchObject({
        code: 1,
        stderr: 'error: plan: "platinum" is not a plan of the policy\n',
      });
      expect(await cli('tenants', 'create', 'Bad Id', '--plan', 'free')).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('error: id: tenant ids are'),
      });
      expect(
        await cli(
          'overrides',
          'set',
          '--tenant',
          'acme',
          '--feature',
          'can_use_sso',
          '--value',
          'yes',
          '--reason',
          'r',
        ),
      ).toMatchObject({
        code: 1,
        stderr: 'error: --value: can_use_sso is a boolean feature: give true or false\n',
      });
      expect(
        await cli('overrides', 'set', '--tenant', 'acme', '--feature', 'nope', '--value', 'true', '--reason', 'r'),
      ).toMatchObject({
        code: 1,
        stderr: 'error: Feature "nope" is not in the policy\n',
      });
      expect(
        await cli(
          'overrides',
          'set',
          '--tenant',
          'ghost',
          '--feature',
          'can_use_sso',
          '--value',
          'true',
          '--reason',
          'r',
        ),
      ).toMatchObject({
        code: 1,
        stderr: 'error: Tenant "ghost" not found\n',
      });
      expect(
        await cli(
          'overrides',
          'set',
          '--tenant',
          'acme',
          '--feature',
          'can_use_sso',
          '--value',
          'true',
          '--reason',
          'r',
          '--expires',
          'yesterday',
        ),
      ).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('expiresAt: must be an ISO 8601 timestamp'),
      });
      expect(JSON.parse((await cli('overrides', 'list', '--json')).stdout)).toEqual([]);
      expect(JSON.parse((await cli('tenants', 'list', '--json')).stdout).map((t: { id: string }) => t.id)).toEqual([
        'acme',
      ]);
    });

    it('exits 2 when a required option is missing', async () => {
      const result = await cli('overrides', 'set', '--tenant', 'acme');
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("required option '--feature <key>' not specified");
    });
  });

  it('runs as a process: entitle validate exits 1 on a broken directory', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'entitle-broken-'));
    writeFileSync(join(broken, 'a.yaml'), 'features:\n  x:\n    name: X\n    type: boolean\n    default: 3\n');
    const run = promisify(execFile)(process.execPath, [...entryArgs('cli/entitle.ts'), 'validate', broken], {
      cwd: ROOT,
    });
    const error = (await run.catch((e: unknown) => e)) as { code: number; stdout: string };
    expect(error.code).toBe(1);
    expect(error.stdout).toContain(
      'a.yaml:5:14: features.x.default: must be a boolean, as the feature\'s type is "boolean" (got number 3)',
    );
  });
});
