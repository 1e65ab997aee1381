// entitle export / import / migrate: a SQLite deployment moved to another store (PostgreSQL
// when DATABASE_URL is set, another SQLite file always) keeps everything: tenants, overrides
// with their versions and times, API tokens (which still authenticate), connections of every
// status with their tokens still encrypted and still decryptable, sync state and busy blocks,
// and the audit log with its chain. An import goes into an empty store, all or nothing.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/api-tokens.js';
import { sealTokens } from '../../src/calendar/connection-tokens.js';
import { loadConfig, type Env } from '../../src/config.js';
import { openTokenCipher } from '../../src/secrets/encryption-keys.js';
import { secretContext } from '../../src/secrets/secret-context.js';
import { openStore } from '../../src/store/open-store.js';
import type { StoreDump } from '../../src/store/transfer.js';
import { runCliCaptured } from '../support/cli.js';
import { importTargets } from '../support/import-targets.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';

function cli(env: Env, cwd: string, ...args: string[]) {
  return runCliCaptured(args, {
    env: { ENTITLE_POLICIES: STARTER_POLICY_DIR, ENTITLE_SEED_DEMO: 'false', ...env },
    cwd,
  });
}

const targets = importTargets();

/** A source deployment with something of every kind in it. */
async function sourceDeployment() {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-export-'));
  const env = { ENTITLE_DB: join(dir, 'entitle.db'), DATABASE_URL: '' };
  const ok = async (...args: string[]) => {
    const result = await cli(env, dir, ...args);
    expect(result.code, result.stderr).toBe(0);
    return result;
  };
  await ok('tenants', 'create', 'acme', '--plan', 'pro');
  await ok('tenants', 'create', 'globex', '--plan', 'business');
  await ok(
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
    '--actor',
    'ops:olivia',
  );
  await ok(
    'overrides',
    'set',
    '--tenant',
    'acme',
    '--feature',
    'max_connected_calendars',
    '--value',
    '5',
    '--reason',
    'pilot extended',
    '--actor',
    'ops:olivia',
  );
  await ok(
    'overrides',
    'set',
    '--tenant',
    'globex',
    '--feature',
    'can_use_webhooks',
    '--value',
    'false',
    '--reason',
    'abuse',
    '--expires',
    '2099-01-01T00:00:00Z',
  );
  const apiToken = JSON.parse((await ok('tokens', 'create', '--tenant', 'acme', '--user', 'alice', '--json')).stdout)
    .token as string;

  const cipher = openTokenCipher({ keys: new Map(), activeKeyId: undefined }, env.ENTITLE_DB);
  const store = await openStore({ databasePath: env.ENTITLE_DB, databaseUrl: undefined, databaseSchema: undefined });
  const connect = (id: string, email: string) =>
    store.connections.connect(
      {
        id,
        tenantId: 'acme',
        userId: 'alice',
        provider: 'google',
        purpose: 'calendar',
        accountEmail: email,
        scopes: ['calendar.readonly'],
        sealTokens: (connectionId) =>
          sealTokens(cipher, connectionId, {
            accessToken: `access-secret-${id}`,
            refreshToken: `refresh-secret-${id}`,
            expiresAt: null,
            scopes: [],
          }),
      },
      { actor: 'test' },
    );
  await connect('conn-1', 'alice@example.com');
  await connect('conn-2', 'alice.old@example.com');
  await store.connections.applySync('acme', 'conn-1', 'primary', {
    changes: [
      {
        type: 'upsert',
        block: {
          eventId: 'e1',
          start: '2030-01-02T09:00:00.000Z',
          end: '2030-01-02T10:00:00.000Z',
          allDay: false,
          showAs: 'busy',
        },
      },
    ],
    syncState: 'google-sync-token-1',
    fullSync: true,
  });
  await store.connections.recordSync(
    'acme',
    'conn-1',
    { calendars: 1, added: 1, updated: 0, deleted: 0, fullResync: true },
    { actor: 'test' },
  );
  await store.connections.disconnect('acme', 'conn-2', { actor: 'test', reason: 'user disconnected' });
  await store.close();
  return { dir, env, cipher, apiToken, ok };
}

describe.each(targets)('moving a SQLite deployment to $name', ({ env: targetEnv, cleanup }) => {
  it(
    'keeps everything: versions, times, tokens that still authenticate, connections of every status still decryptable, sync state, the audit chain',
    { timeout: 60_000 },
    async () => {
      const source = await sourceDeployment();
      const { dir } = source;
      await source.ok('export', '--out', 'dump.json');
      const dump = JSON.parse(readFileSync(join(dir, 'dump.json'), 'utf8')) as StoreDump;
      expect(
        Object.fromEntries(Object.entries(dump.tables).map(([table, rows]) => [table, rows.length])),
      ).toMatchObject({
        tenants: 2,
        overrides: 2,
        api_tokens: 1,
        connections: 2,
        connection_calendars: 1,
        busy_blocks: 1,
      });
      expect(JSON.stringify(dump)).not.toMatch(/access-secret|refresh-secret/);

      const target = targetEnv();
      try {
        expect((await cli(target, dir, 'migrate')).stdout).toMatch(/migrations applied/);
        const imported = await cli(target, dir, 'import', 'dump.json');
        expect(imported.code, imported.stderr).toBe(0);
        expect(imported.stdout).toContain(
          `imported 2 tenants, 2 overrides, 1 API tokens, 2 connections, 1 synced calendars, 1 busy blocks, ${dump.tables.audit_log.length} audit rows`,
        );

        // Row for row the same, except the audit row that records the import itself.
        const again = JSON.parse((await cli(target, dir, 'export')).stdout) as StoreDump;
        expect({ ...again.tables, audit_log: again.tables.audit_log.slice(0, -1) }).toEqual(dump.tables);
        expect(again.tables.audit_log.at(-1)).toMatchObject({
          action: 'store.import',
          seq: dump.tables.audit_log.length + 1,
        });
        const verified = await cli(target, dir, 'audit', 'verify', '--json');
        expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, checked: dump.tables.audit_log.length + 1 });

        // Through the target store: versions, the token, the connections and their tokens.
        const store = await openStore(loadConfig(target, dir, { purpose: 'cli' }));
        try {
          expect(await store.overrides.get('acme', 'max_connected_calendars')).toMatchObject({
            value: 5,
            version: 2,
            actor: 'ops:olivia',
            reason: 'pilot extended',
          });
          expect(await store.tokens.findBySecretHash(hashToken(source.apiToken))).toMatchObject({
            tenantId: 'acme',
            userId: 'alice',
            revokedAt: null,
          });
          expect(
            (await store.connections.list('acme')).map(({ id, status, invalidReason }) => ({
              id,
              status,
              invalidReason,
            })),
          ).toEqual([
            { id: 'conn-1', status: 'valid', invalidReason: null },
            { id: 'conn-2', status: 'invalid', invalidReason: 'user disconnected' },
          ]);
          const tokens = await store.connections.tokens('acme', 'conn-1');
          expect(
            source.cipher.decrypt(tokens?.accessToken as string, secretContext('connection.access_token', 'conn-1')),
          ).toBe('access-secret-conn-1');
          expect(await store.connections.syncState('acme', 'conn-1', 'primary')).toBe('google-sync-token-1');
          expect(await store.connections.busyBlocks('acme', 'conn-1')).toHaveLength(1);
        } finally {
          await store.close();
        }
        const explained = JSON.parse(
          (await cli(target, dir, 'explain', '--tenant', 'acme', '--feature', 'max_connected_calendars', '--json'))
            .stdout,
        );
        expect(explained).toMatchObject({
          value: 5,
          source: 'override',
          override: { reason: 'pilot extended', actor: 'ops:olivia' },
        });
      } finally {
        await cleanup?.(target);
      }
    },
  );

  it(
    'refuses a target that is not empty, and a dump that breaks a constraint half-way, importing nothing either time',
    { timeout: 60_000 },
    async () => {
      const source = await sourceDeployment();
      const { dir } = source;
      await source.ok('export', '--out', 'dump.json');
      const dump = JSON.parse(readFileSync(join(dir, 'dump.json'), 'utf8')) as StoreDump;
      const target = targetEnv();
      try {
        // A busy block of a connection that is not in the dump: the last table fails, after every other table was written.
        const broken = {
          ...dump,
          tables: {
            ...dump.tables,
            busy_blocks: [...dump.tables.busy_blocks, { ...dump.tables.busy_blocks[0], connection_id: 'ghost' }],
          },
        };
        writeFileSync(join(dir, 'broken.json'), JSON.stringify(broken));
        const failed = await cli(target, dir, 'import', 'broken.json');
        expect(failed.code).not.toBe(0);
        expect(failed.stderr).toMatch(
          /^error: busy_blocks\[[0-9…]+\]: .*(FOREIGN KEY|foreign key).*; nothing was imported/,
        );
        const empty = JSON.parse((await cli(target, dir, 'export')).stdout) as StoreDump;
        expect(Object.values(empty.tables).every((rows) => rows.length === 0)).toBe(true);

        expect((await cli(target, dir, 'import', 'dump.json')).code).toBe(0);
        const before = (await cli(target, dir, 'export')).stdout;
        const twice = await cli(target, dir, 'import', 'dump.json');
        expect(twice.code).not.toBe(0);
        expect(twice.stderr).toMatch(
          /^error: the target store is not empty \(2 tenants, 2 overrides, 1 api_tokens, 2 connections, .*\): import needs an empty store; nothing was imported/,
        );
        expect(JSON.parse((await cli(target, dir, 'export')).stdout).tables).toEqual(JSON.parse(before).tables);

        const notADump = await cli(target, dir, 'import', 'broken.json.missing');
        expect(notADump.stderr).toMatch(/not a readable JSON file/);
        writeFileSync(join(dir, 'old.json'), JSON.stringify({ format: 'entitle-dump/1', tenants: [] }));
        expect((await cli(target, dir, 'import', 'old.json')).stderr).toMatch(
          /not an Entitle dump \(format "entitle-dump\/1", expected entitle-dump\/2\)/,
        );
      } finally {
        await cleanup?.(target);
      }
    },
  );
});

/** `audit archive --json` in a deployment: what it archived and the anchor it left. */
async function archive(
  env: Env,
  dir: string,
  before: string,
  file: string,
): Promise<{ rows: number; anchor: { seq: number; hash: string } }> {
  const result = await cli(env, dir, 'audit', 'archive', '--before', before, '--out', join(dir, file), '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

async function verify(env: Env, dir: string, ...args: string[]) {
  const result = await cli(env, dir, 'audit', 'verify', '--json', ...args);
  return { code: result.code, ...JSON.parse(result.stdout) };
}

const FUTURE = '2999-01-01T00:00:00Z';

describe.each(targets)(
  'moving a SQLite deployment with archived audit rows to $name and back to SQLite',
  ({ env: targetEnv, cleanup }) => {
    it(
      'carries the archive anchors: audit verify passes on every store after archive → export → import, and the chain goes on',
      { timeout: 60_000 },
      async () => {
        const source = await sourceDeployment();
        const { dir } = source;
        // Every row but the last (at least) goes to the archive: the first row left links to an archived one.
        const written = (JSON.parse((await source.ok('export')).stdout) as StoreDump).tables.audit_log;
        const first = await archive(source.env, dir, written.at(-1)?.at as string, 'first.jsonl');
        expect(first.rows).toBeGreaterThan(0);
        const head = (await verify(source.env, dir)).head as { seq: number; hash: string };

        await source.ok('export', '--out', 'dump.json');
        const dump = JSON.parse(readFileSync(join(dir, 'dump.json'), 'utf8')) as StoreDump;
        expect(dump.tables.audit_anchors).toEqual([
          { seq: first.anchor.seq, hash: first.anchor.hash, archived_at: expect.any(String), rows: first.rows },
        ]);
        expect(dump.tables.audit_log[0]).toMatchObject({ seq: first.anchor.seq + 1, prev_hash: first.anchor.hash });
        const kept = dump.tables.audit_log.length;

        const target = targetEnv();
        const back = { ENTITLE_DB: join(mkdtempSync(join(tmpdir(), 'entitle-back-')), 'back.db'), DATABASE_URL: '' };
        try {
          expect((await cli(target, dir, 'migrate')).code).toBe(0);
          const imported = await cli(target, dir, 'import', 'dump.json');
          expect(imported.code, imported.stderr).toBe(0);
          expect(imported.stdout).toContain(`1 busy blocks, 1 audit archive anchors, ${kept} audit rows`);
          expect(await verify(target, dir)).toMatchObject({ code: 0, ok: true, checked: kept + 1 });
          // A head recorded before the move still checks: the store's chain starts at the same anchor.
          expect(await verify(target, dir, '--expect-head', `${head.seq}:${head.hash}`)).toMatchObject({
            code: 0,
            ok: true,
          });

          // On the target, the next archive takes every row left and continues the first one's file.
          const second = await archive(target, dir, FUTURE, 'second.jsonl');
          expect(second.rows).toBe(kept + 1);
          expect(await verify(target, dir, '--file', join(dir, 'second.jsonl'))).toMatchObject({
            code: 0,
            ok: true,
            header: { from: first.anchor, to: second.anchor },
          });
          // Anchors count as held rows (an import over them would collide), even with no audit row left.
          expect((await cli(target, dir, 'import', 'dump.json')).stderr).toMatch(/not empty \(.*, 2 audit_anchors\)/);

          // And back to SQLite: both anchors travel; the log is empty, so the import row links to the last one.
          await cli(target, dir, 'export', '--out', 'back.json');
          const backDump = JSON.parse(readFileSync(join(dir, 'back.json'), 'utf8')) as StoreDump;
          expect(backDump.tables.audit_anchors.map(({ seq, hash }) => ({ seq, hash }))).toEqual([
            first.anchor,
            second.anchor,
          ]);
          expect(backDump.tables.audit_log).toEqual([]);
          expect((await cli(back, dir, 'import', 'back.json')).code).toBe(0);
          expect(await verify(back, dir)).toMatchObject({ code: 0, ok: true, checked: 1 });
          const [row] = JSON.parse((await cli(back, dir, 'audit', 'list', '--json')).stdout) as {
            seq: number;
            action: string;
            prevHash: string;
          }[];
          expect(row).toMatchObject({
            seq: second.anchor.seq + 1,
            action: 'store.import',
            prevHash: second.anchor.hash,
          });
          expect((await cli(back, dir, 'tenants', 'create', 'initech', '--plan', 'free')).code).toBe(0);
          expect(await verify(back, dir)).toMatchObject({ code: 0, ok: true, checked: 2 });
        } finally {
          await cleanup?.(target);
        }
      },
    );

    it(
      'imports a dump written before anchors travelled; from a store that had archived, verify then names the first row',
      { timeout: 60_000 },
      async () => {
        const source = await sourceDeployment();
        const { dir } = source;
        const withoutAnchors = (dump: StoreDump) => ({
          ...dump,
          tables: Object.fromEntries(Object.entries(dump.tables).filter(([table]) => table !== 'audit_anchors')),
        });
        const unarchived = JSON.parse((await source.ok('export')).stdout) as StoreDump;
        writeFileSync(join(dir, 'old.json'), JSON.stringify(withoutAnchors(unarchived)));
        const archived = await archive(source.env, dir, unarchived.tables.audit_log.at(-1)?.at as string, 'a.jsonl');
        writeFileSync(
          join(dir, 'old-archived.json'),
          JSON.stringify(withoutAnchors(JSON.parse((await source.ok('export')).stdout) as StoreDump)),
        );

        const target = targetEnv();
        const other = { ENTITLE_DB: join(mkdtempSync(join(tmpdir(), 'entitle-old-')), 'old.db'), DATABASE_URL: '' };
        try {
          expect((await cli(target, dir, 'import', 'old.json')).code).toBe(0);
          expect(await verify(target, dir)).toMatchObject({
            code: 0,
            ok: true,
            checked: unarchived.tables.audit_log.length + 1,
          });
          expect((await cli(other, dir, 'import', 'old-archived.json')).code).toBe(0);
          expect(await verify(other, dir)).toMatchObject({
            code: 1,
            ok: false,
            firstBroken: { seq: archived.anchor.seq + 1, problem: expect.stringMatching(/link to the previous row/) },
          });
        } finally {
          await cleanup?.(target);
        }
      },
    );

    it(
      'imports nothing, not even the anchors, when an audit row breaks a constraint after them',
      { timeout: 60_000 },
      async () => {
        const source = await sourceDeployment();
        const { dir } = source;
        const written = (JSON.parse((await source.ok('export')).stdout) as StoreDump).tables.audit_log;
        await archive(source.env, dir, written.at(-1)?.at as string, 'a.jsonl');
        const dump = JSON.parse((await source.ok('export')).stdout) as StoreDump;
        expect(dump.tables.audit_anchors).toHaveLength(1); // written before the audit rows, so the failure has to roll it back
        const rows = dump.tables.audit_log;
        writeFileSync(
          join(dir, 'broken.json'),
          JSON.stringify({ ...dump, tables: { ...dump.tables, audit_log: [...rows, rows.at(-1)] } }),
        );

        const target = targetEnv();
        try {
          const failed = await cli(target, dir, 'import', 'broken.json');
          expect(failed.code).not.toBe(0);
          expect(failed.stderr).toMatch(/^error: audit_log\[[0-9…]+\]: .*(UNIQUE|unique).*; nothing was imported/);
          const empty = JSON.parse((await cli(target, dir, 'export')).stdout) as StoreDump;
          expect(Object.values(empty.tables).every((table) => table.length === 0)).toBe(true);
        } finally {
          await cleanup?.(target);
        }
      },
    );
  },
);

describe.each(targets)('importing into $name what the API would refuse', ({ env: targetEnv, cleanup }) => {
  it(
    'refuses the whole dump at the first such row, naming table, row and field; the store stays empty',
    { timeout: 60_000 },
    async () => {
      const source = await sourceDeployment();
      const { dir } = source;
      const dump = JSON.parse((await source.ok('export')).stdout) as StoreDump;
      const tenants = dump.tables.tenants;
      const overrides = dump.tables.overrides;
      const tokens = dump.tables.api_tokens;
      const acme = tenants.findIndex((row) => row.id === 'acme');
      const withRow = (table: keyof StoreDump['tables'], index: number, changes: Record<string, unknown>) => ({
        ...dump,
        tables: {
          ...dump.tables,
          [table]: dump.tables[table].map((row, i) => (i === index ? { ...row, ...changes } : row)),
        },
      });
      const calendars = overrides.findIndex((row) => row.feature === 'max_connected_calendars');
      const cases: [string, unknown, RegExp][] = [
        [
          'evil-id',
          withRow('tenants', acme, { id: '../evil' }),
          new RegExp(`^error: tenants\\[${acme}\\]\\.id: "\\.\\./evil": tenant ids are`),
        ],
        [
          'upper-id',
          withRow('tenants', acme, { id: 'UPPER' }),
          new RegExp(`^error: tenants\\[${acme}\\]\\.id: "UPPER"`),
        ],
        [
          'no-plan',
          withRow('tenants', acme, { plan: 'nosuchplan' }),
          new RegExp(`^error: tenants\\[${acme}\\]\\.plan: "nosuchplan" is not a plan`),
        ],
        [
          'huge',
          withRow('overrides', calendars, { value: '1e308' }),
          new RegExp(`^error: overrides\\[${calendars}\\]\\.value: must be a whole number \\(at most`),
        ],
        [
          'fraction',
          withRow('overrides', calendars, { value: '2.5' }),
          new RegExp(`^error: overrides\\[${calendars}\\]\\.value: must be a whole number`),
        ],
        [
          'role',
          withRow('api_tokens', 0, { role: 'root' }),
          /^error: api_tokens\[0\]\.role: must be one of member, admin, client/,
        ],
      ];
      expect(tokens.length).toBeGreaterThan(0);
      const target = targetEnv();
      try {
        for (const [name, bad, message] of cases) {
          writeFileSync(join(dir, `${name}.json`), JSON.stringify(bad));
          const refused = await cli(target, dir, 'import', `${name}.json`);
          expect(refused.code, name).not.toBe(0);
          expect(refused.stderr, name).toMatch(message);
          expect(refused.stderr, name).toMatch(/nothing was imported/);
          const empty = JSON.parse((await cli(target, dir, 'export')).stdout) as StoreDump;
          expect(
            Object.values(empty.tables).every((table) => table.length === 0),
            name,
          ).toBe(true);
        }
        // The dump as exported imports.
        writeFileSync(join(dir, 'good.json'), JSON.stringify(dump));
        expect((await cli(target, dir, 'import', 'good.json')).code).toBe(0);
      } finally {
        await cleanup?.(target);
      }
    },
  );
});
