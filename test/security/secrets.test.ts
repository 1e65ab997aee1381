// Secrets: after a full workout (tokens issued, calendars connected on both providers, listed,
// synced, refreshed, provider failures that echo the token back, a disconnect) no plaintext
// OAuth access or refresh token and no API token secret appears in the stored data (SQLite: the
// file bytes; PostgreSQL: every row of every table as text), the logs at trace level, any
// response (OAuth initiate and callback included), the audit log, the CLI's output or a child
// server's output. Tampering with a ciphertext or its key id is detected, and key rotation leaves
// every connection usable. Runs on SQLite, and on PostgreSQL too when DATABASE_URL is set.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { Env } from '../../src/config.js';
import type { TestApp } from '../support/app.js';
import { buildCalendarApp, startFakes, type Fakes } from '../support/calendar.js';
import { startChildServer } from '../support/child-server.js';
import { dumpPostgres, dumpSqlite } from '../support/database-dump.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';
import type { FakeProvider } from '../fakes/fake-provider.js';

/** Where a store keeps its data, and how the test reads and changes it behind the service's back. */
interface StoreUnderTest {
  readonly name: string;
  /** Environment for the app and the CLI (the dev key file lives beside ENTITLE_DB in both cases). */
  env(dir: string): Env;
  /** Everything stored, as text, to search for plaintext. */
  stored(env: Env): Promise<string[]>;
  /** The stored access tokens of valid connections (ciphertexts). */
  accessTokens(env: Env): Promise<string[]>;
  /** Rewrites a connection's two ciphertexts. */
  setTokens(env: Env, id: string, change: (ciphertext: string) => string): Promise<void>;
  cleanup(env: Env): Promise<void>;
}

const sqlite: StoreUnderTest = {
  name: 'SQLite',
  env: (dir) => ({ ENTITLE_DB: join(dir, 'entitle.db') }),
  async stored(env) {
    const path = env.ENTITLE_DB as string;
    const files = [path, `${path}-wal`].filter(existsSync).map((file) => readFileSync(file).toString('latin1'));
    const db = new Database(path, { readonly: true });
    try {
      return [...files, dumpSqlite(db)];
    } finally {
      db.close();
    }
  },
  async accessTokens(env) {
    const db = new Database(env.ENTITLE_DB as string, { readonly: true });
    try {
      return (
        db.prepare("SELECT access_token FROM connections WHERE status = 'valid'").pluck().all() as string[]
      ).sort();
    } finally {
      db.close();
    }
  },
  async setTokens(env, id, change) {
    const db = new Database(env.ENTITLE_DB as string);
    try {
      const row = db.prepare('SELECT access_token, refresh_token FROM connections WHERE id = ?').get(id) as {
        access_token: string;
        refresh_token: string;
      };
      db.prepare('UPDATE connections SET access_token = ?, refresh_token = ? WHERE id = ?').run(
        change(row.access_token),
        change(row.refresh_token),
        id,
      );
    } finally {
      db.close();
    }
  },
  cleanup: async () => undefined,
};

async function withPostgres<T>(env: Env, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: env.DATABASE_URL });
  await client.connect();
  try {
    await client.query(`SET search_path = "${env.DATABASE_SCHEMA}"`);
    return await work(client);
  } finally {
    await client.end();
  }
}

const postgres: StoreUnderTest = {
  name: 'PostgreSQL',
  env: (dir) => ({
    ENTITLE_DB: join(dir, 'entitle.db'),
    DATABASE_URL: process.env.DATABASE_URL as string,
    DATABASE_SCHEMA: `entitle_secrets_${randomBytes(6).toString('hex')}`,
  }),
  stored: async (env) => [await dumpPostgres(env.DATABASE_URL as string, env.DATABASE_SCHEMA as string)],
  accessTokens: (env) =>
    withPostgres(env, async (client) =>
      (await client.query<{ access_token: string }>("SELECT access_token FROM connections WHERE status = 'valid'")).rows
        .map((row) => row.access_token)
        .sort(),
    ),
  setTokens: (env, id, change) =>
    withPostgres(env, async (client) => {
      const row = (
        await client.query<{ access_token: string; refresh_token: string }>(
          'SELECT access_token, refresh_token FROM connections WHERE id = $1',
          [id],
        )
      ).rows[0];
      await client.query('UPDATE connections SET access_token = $1, refresh_token = $2 WHERE id = $3', [
        change(row?.access_token as string),
        change(row?.refresh_token as string),
        id,
      ]);
    }),
  cleanup: (env) =>
    withPostgres(env, (client) => client.query(`DROP SCHEMA IF EXISTS "${env.DATABASE_SCHEMA}" CASCADE`)).then(
      () => undefined,
    ),
};

const STORES = process.env.DATABASE_URL ? [sqlite, postgres] : [sqlite];

let fakes: Fakes;
beforeAll(async () => {
  fakes = await startFakes();
});
afterAll(() => fakes.close());

/** Every plaintext the fakes issued and every API token secret, for a leak search. */
function secretsOf(apiTokens: readonly string[]): string[] {
  return [
    ...fakes.google.issuedTokens,
    ...fakes.microsoft.issuedTokens,
    ...apiTokens.map((value) => value.slice('ent_'.length + 13)),
  ];
}

function expectNoSecretIn(
  haystacks: readonly { readonly name: string; readonly text: string }[],
  secrets: readonly string[],
): void {
  expect(secrets.every((secret) => secret.length > 20)).toBe(true);
  for (const secret of secrets) {
    for (const { name, text } of haystacks) {
      const at = text.indexOf(secret);
      expect(
        at === -1,
        `${name}: ${secret.slice(0, 6)}… at ${at}: ${JSON.stringify(text.slice(Math.max(0, at - 120), at + 60))}`,
      ).toBe(true);
    }
  }
}

describe.each(STORES)('secrets on $name', (storeUnderTest) => {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-secrets-'));
  const env = storeUnderTest.env(dir);
  const ids: string[] = [];
  const apiTokens: string[] = [];
  const responses: string[] = [];
  let logs = '';
  let token = '';
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs += chunk.toString();
      done();
    },
  });
  const open = (): Promise<TestApp> => buildCalendarApp(fakes, { env, logger: { level: 'trace', stream: logStream } });
  const cli = async (...args: string[]) => {
    let out = '';
    const code = await runCli(args, {
      stdout: (text) => (out += text),
      stderr: (text) => (out += text),
      env: { ...env, ENTITLE_POLICIES: STARTER_POLICY_DIR },
      cwd: dir,
    });
    return { code, out };
  };
  afterAll(() => storeUnderTest.cleanup(env));

  it(
    'a full workout leaves no plaintext secret in the stored data, the logs, the responses, the audit log or the CLI output',
    { timeout: 60_000 },
    async () => {
      const t = await open();
      const record = async (request: {
        method: 'GET' | 'POST';
        url: string;
        headers: Record<string, string>;
        payload?: object;
      }) => {
        const response = await t.app.inject(request);
        responses.push(response.body, JSON.stringify(response.headers));
        return response;
      };
      /** The whole OAuth flow, with the initiate and callback responses kept for the search. */
      const connect = async (fake: FakeProvider, email: string) => {
        const initiated = await record({
          method: 'POST',
          url: `/api/oauth/${fake.provider}/initiate/`,
          headers: t.auth(token),
          payload: { purpose: 'calendar' },
        });
        expect(initiated.statusCode, initiated.body).toBe(200);
        const { code, state } = fake.authorize(initiated.json().authorizationUrl, { email });
        const callback = await record({
          method: 'POST',
          url: `/api/oauth/${fake.provider}/callback/`,
          headers: t.auth(token),
          payload: { code, state },
        });
        expect([200, 201], callback.body).toContain(callback.statusCode);
        return callback.json().connection.id as string;
      };
      token = await t.token('acme', 'alice', { plan: 'business' });
      apiTokens.push(token, await t.token('ops', 'olivia', { role: 'admin' }));
      for (const provider of ['google', 'microsoft'] as const) {
        const email = `secret-${provider}@example.com`;
        ids.push(await connect(fakes[provider], email));
        fakes[provider].putEvent(email, provider === 'google' ? email : 'AAMkAD-default', {
          id: 'e1',
          start: '2026-12-01T09:00:00Z',
          end: '2026-12-01T10:00:00Z',
        });
      }
      const auth = t.auth(token);
      await record({ method: 'GET', url: '/api/calendar/list/', headers: auth });
      for (const id of ids)
        await record({ method: 'POST', url: '/api/calendar/sync/', headers: auth, payload: { connectionId: id } });
      fakes.google.expireAccessTokens();
      fakes.microsoft.expireAccessTokens();
      await record({ method: 'GET', url: '/api/calendar/list/', headers: auth }); // refresh
      // Providers that echo the token back in their errors (in the message, in the code): the echo must go no further.
      for (const provider of ['google', 'microsoft'] as const) {
        for (const [status, place] of [
          [500, 'message'],
          [400, 'code'],
        ] as const) {
          const [access] = fakes[provider].validAccessTokens();
          const error = {
            code: 'BadRequest',
            message: `token ${access} was rejected`,
            [place]: place === 'code' ? access : `token ${access} was rejected`,
          };
          fakes[provider].failNext({
            path: /calendar/i,
            status,
            body: { error, error_description: `bad bearer ${access}` },
          });
          expect((await record({ method: 'GET', url: '/api/calendar/list/', headers: auth })).statusCode).toBe(502);
        }
      }
      expect((await record({ method: 'GET', url: '/api/calendar/list/', headers: auth })).statusCode).toBe(200);
      await record({ method: 'GET', url: '/api/calendar/status/', headers: auth });
      await record({ method: 'GET', url: '/api/calendar/list/', headers: { authorization: `Bearer ${token}x` } });
      await record({ method: 'GET', url: '/api/admin/audit?limit=500', headers: t.auth(apiTokens[1] as string) });
      await record({ method: 'GET', url: '/api/admin/tokens', headers: t.auth(apiTokens[1] as string) });
      await t.close();

      const outputs = [
        await cli('audit', 'list', '--limit', '500'),
        await cli('audit', 'verify'),
        await cli('tokens', 'list'),
        await cli('export'),
        await cli('overrides', 'list'),
      ];
      for (const output of outputs) expect(output.code, output.out).toBe(0);
      const audit = (await cli('audit', 'list', '--limit', '500', '--json')).out;
      expect(logs.length).toBeGreaterThan(1000);
      expect(audit).toContain('connection.create');
      const secrets = secretsOf(apiTokens);
      expect(secrets.length).toBeGreaterThan(8);
      expectNoSecretIn(
        [
          ...(await storeUnderTest.stored(env)).map((text) => ({ name: 'stored data', text })),
          { name: 'logs', text: logs },
          { name: 'audit log', text: audit },
          ...responses.map((text) => ({ name: 'response', text })),
          ...outputs.map(({ out }) => ({ name: 'CLI output', text: out })),
        ],
        secrets,
      );
    },
  );

  it('key rotation re-encrypts every token and leaves every connection usable', async () => {
    const before = await storeUnderTest.accessTokens(env);
    const rotated = await cli('keys', 'rotate', '--generate');
    expect(rotated.code, rotated.out).toBe(0);
    const keyIdOf = (ciphertext: string) => ciphertext.split('.')[1];
    const after = await storeUnderTest.accessTokens(env);
    expect(after).toHaveLength(2);
    for (const ciphertext of after) expect(before.map(keyIdOf)).not.toContain(keyIdOf(ciphertext));

    const t = await open();
    try {
      const listed = await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(token) });
      expect(listed.statusCode, listed.body).toBe(200);
      expect(listed.json().connections).toHaveLength(2);
    } finally {
      await t.close();
    }
  });

  it('a tampered ciphertext or key id is detected: the connection must be reconnected, nothing is decrypted wrongly', async () => {
    const [first, second] = ids as [string, string];
    await storeUnderTest.setTokens(env, first, (value) => {
      const parts = value.split('.');
      const body = Buffer.from(parts[3] as string, 'base64url');
      body[0] = (body[0] as number) ^ 1;
      parts[3] = body.toString('base64url');
      return parts.join('.');
    });
    await storeUnderTest.setTokens(env, second, (value) =>
      value
        .split('.')
        .map((part, i) => (i === 1 ? 'nokey' : part))
        .join('.'),
    );
    const t = await open();
    try {
      for (const id of [first, second]) {
        const response = await t.app.inject({
          method: 'POST',
          url: '/api/calendar/sync/',
          headers: t.auth(token),
          payload: { connectionId: id },
        });
        expect(response.statusCode, response.body).toBe(409);
        expect(response.json().error).toMatch(/connect/i);
      }
    } finally {
      await t.close();
    }
  });
});

describe('secrets in a child server process', () => {
  it(
    'its output (logs at trace level) carries no plaintext OAuth token, even when a provider echoes one in an error',
    { timeout: 60_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'entitle-secrets-child-'));
      const server = await startChildServer({
        ...fakes.env,
        ENTITLE_DB: join(dir, 'entitle.db'),
        ENTITLE_POLICIES: STARTER_POLICY_DIR,
        LOG_LEVEL: 'trace',
      });
      try {
        const user = server.userToken as string;
        expect(user).toMatch(/^ent_/);
        const call = async (method: string, path: string, body?: object) => {
          const response = await fetch(`${server.url}${path}`, {
            method,
            headers: { authorization: `Bearer ${user}`, ...(body ? { 'content-type': 'application/json' } : {}) },
            ...(body ? { body: JSON.stringify(body) } : {}),
          });
          return { status: response.status, text: await response.text() };
        };
        const bodies: string[] = [];
        // The demo tenant starts on the free plan: an operator moves it to one with calendar sync.
        const upgraded = await fetch(`${server.url}/api/admin/tenants/demo`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ plan: 'business' }),
        });
        expect(upgraded.status, await upgraded.text()).toBe(200);
        const initiated = await call('POST', '/api/oauth/google/initiate/', { purpose: 'calendar' });
        bodies.push(initiated.text);
        expect(initiated.status, initiated.text).toBe(200);
        const { code, state } = fakes.google.authorize(JSON.parse(initiated.text).authorizationUrl, {
          email: 'child@example.com',
        });
        const callback = await call('POST', '/api/oauth/google/callback/', { code, state });
        bodies.push(callback.text);
        expect([200, 201], callback.text).toContain(callback.status);
        const [access] = fakes.google.validAccessTokens();
        fakes.google.failNext({
          path: /calendar/,
          status: 500,
          body: { error: { message: `token ${access} rejected` } },
        });
        bodies.push((await call('GET', '/api/calendar/list/')).text, (await call('GET', '/api/calendar/list/')).text);
        await server.kill('SIGTERM');
        const output = server.output();
        expect(output).toContain('calendar list failed (500)');
        expectNoSecretIn(
          [{ name: 'child server output', text: output }, ...bodies.map((text) => ({ name: 'response', text }))],
          [...fakes.google.issuedTokens],
        );
      } finally {
        await server.kill('SIGKILL');
      }
    },
  );
});
