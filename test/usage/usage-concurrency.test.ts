// No over-consumption, ever: real server processes (and CLI processes) racing for one meter on
// one database, and a retry after the server was killed between its commit and its answer.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyEntry } from '../../src/secrets/encryption-keys.js';
import { dropSchema } from '../support/app.js';
import { entryArgs, startChildServer, type ChildServer } from '../support/child-server.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DB_URL = process.env.DATABASE_URL;
const SMS = 'sms_reminders_per_month';
const ALLOWANCE = 100;
const ATTEMPTS = 600;

const servers: ChildServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.kill('SIGKILL')));
});

async function call(
  server: ChildServer,
  token: string,
  method: string,
  path: string,
  body?: object,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Gives the demo tenant an allowance of {@link ALLOWANCE} through the admin API. */
async function allow(server: ChildServer): Promise<void> {
  const res = await call(server, server.adminToken as string, 'PUT', `/api/admin/tenants/demo/overrides/${SMS}`, {
    value: ALLOWANCE,
    reason: 'concurrency test',
  });
  expect(res.status).toBe(201);
}

/** Consumes 1 through a server; true when granted. */
async function consumeOne(server: ChildServer, token: string): Promise<boolean> {
  const res = await call(server, token, 'POST', '/api/usage/consume', { feature: SMS, amount: 1 });
  if (res.status !== 200 && res.status !== 403) throw new Error(`consume: ${res.status} ${JSON.stringify(res.body)}`);
  return res.status === 200;
}

async function used(server: ChildServer, token: string): Promise<number> {
  const res = await call(server, token, 'GET', '/api/usage');
  return (res.body.meters as { feature: string; used: number }[]).find((meter) => meter.feature === SMS)?.used ?? -1;
}

describe('concurrent consumes never exceed the allowance', () => {
  it.skipIf(!DB_URL)(
    `two server instances on one PostgreSQL database: ${ATTEMPTS} consumes of 1 against ${ALLOWANCE} grant exactly ${ALLOWANCE}`,
    { timeout: 180_000 },
    async () => {
      const schema = `entitle_usage_${randomBytes(6).toString('hex')}`;
      const env = {
        DATABASE_URL: DB_URL as string,
        DATABASE_SCHEMA: schema,
        ENTITLE_ENCRYPTION_KEYS: generateKeyEntry('usage'),
        ENTITLE_DB: join(mkdtempSync(join(tmpdir(), 'entitle-usage-')), 'unused.db'),
      };
      try {
        const first = await startChildServer(env);
        servers.push(first);
        const second = await startChildServer(env);
        servers.push(second);
        await allow(first);
        const token = first.userToken as string;
        const results = await Promise.all(
          Array.from({ length: ATTEMPTS }, (_, i) => consumeOne(i % 2 === 0 ? first : second, token)),
        );
        const granted = results.filter(Boolean).length;
        expect(granted).toBe(ALLOWANCE);
        // Both instances won some: the race really was across instances.
        expect(results.filter((ok, i) => ok && i % 2 === 0).length).toBeGreaterThan(0);
        expect(results.filter((ok, i) => ok && i % 2 === 1).length).toBeGreaterThan(0);
        expect(await used(second, token)).toBe(ALLOWANCE);
      } finally {
        await Promise.all(servers.splice(0).map((server) => server.kill('SIGKILL')));
        await dropSchema(DB_URL as string, schema);
      }
    },
  );

  it(
    `SQLite, a server and CLI processes on one file: ${ATTEMPTS} consumes of 1 against ${ALLOWANCE} grant exactly ${ALLOWANCE}`,
    { timeout: 180_000 },
    async () => {
      const database = join(mkdtempSync(join(tmpdir(), 'entitle-usage-')), 'entitle.db');
      const server = await startChildServer({ ENTITLE_DB: database });
      servers.push(server);
      await allow(server);
      const token = server.userToken as string;
      const CLI_PROCESSES = 10;
      // CLI processes start while the server is answering: both write the same counter row.
      const cli = Array.from({ length: CLI_PROCESSES }, () =>
        run(
          process.execPath,
          [...entryArgs('cli/entitle.ts'), 'usage', 'consume', '--tenant', 'demo', '--feature', SMS],
          {
            cwd: ROOT,
            env: { ...process.env, DATABASE_URL: '', ENTITLE_DB: database },
          },
        ).then(
          () => true,
          (error: { code?: number; stderr?: string }) => {
            if (error.code === 3) return false;
            throw new Error(`CLI consume failed (${String(error.code)}): ${error.stderr ?? ''}`);
          },
        ),
      );
      const http: boolean[] = [];
      // The HTTP side in waves, so that it is still consuming while the CLI processes start up.
      for (let sent = 0; sent < ATTEMPTS - CLI_PROCESSES; sent += 10) {
        http.push(
          ...(await Promise.all(
            Array.from({ length: Math.min(10, ATTEMPTS - CLI_PROCESSES - sent) }, () => consumeOne(server, token)),
          )),
        );
      }
      const byCli = await Promise.all(cli);
      expect(http.filter(Boolean).length + byCli.filter(Boolean).length).toBe(ALLOWANCE);
      expect(await used(server, token)).toBe(ALLOWANCE);
    },
  );
});

describe('idempotency across a crash', () => {
  it(
    'a retry with the same key after a SIGKILL between commit and answer consumes once and gets the first answer',
    { timeout: 120_000 },
    async () => {
      const database = join(mkdtempSync(join(tmpdir(), 'entitle-usage-crash-')), 'entitle.db');
      const key = 'sms-reminder-booking-1234';
      const crashing = await startChildServer({ ENTITLE_DB: database, ENTITLE_TEST_KILL_AFTER_KEY: key }, 60_000, [
        'test/support/kill-after-usage-commit.ts',
      ]);
      servers.push(crashing);
      await allow(crashing);
      const token = crashing.userToken as string;
      const body = { feature: SMS, amount: 3, idempotencyKey: key };
      // The server dies after its commit: the client gets no answer.
      await expect(call(crashing, token, 'POST', '/api/usage/consume', body)).rejects.toThrow();
      servers.splice(servers.indexOf(crashing), 1);
      await crashing.kill('SIGKILL');

      const restarted = await startChildServer({ ENTITLE_DB: database });
      servers.push(restarted);
      const retry = await call(restarted, token, 'POST', '/api/usage/consume', body);
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ granted: true, used: 3, remaining: ALLOWANCE - 3 });
      expect(await used(restarted, token)).toBe(3);
      const conflicting = await call(restarted, token, 'POST', '/api/usage/consume', { ...body, amount: 4 });
      expect(conflicting.status).toBe(409);
    },
  );
});
