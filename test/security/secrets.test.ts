// Secrets: after a full workout (tokens issued, calendars connected on both providers, listed,
// synced, refreshed, a provider failure, a disconnect) no plaintext OAuth access or refresh
// token and no API token secret appears in the database file bytes, the logs at trace level,
// any response, or the audit log. Tampering with a ciphertext is detected, and key rotation
// leaves every connection usable.

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { TestApp } from '../support/app.js';
import { buildCalendarApp, connectCalendar, startFakes, type Fakes } from '../support/calendar.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';

let fakes: Fakes;
let dir: string;
let dbPath: string;
let logs = '';
const responses: string[] = [];
const apiTokens: string[] = [];

const logStream = new Writable({
  write(chunk: Buffer, _encoding, done) {
    logs += chunk.toString();
    done();
  },
});

async function open(): Promise<TestApp> {
  return buildCalendarApp(fakes, { env: { ENTITLE_DB: dbPath }, logger: { level: 'trace', stream: logStream } });
}

beforeAll(async () => {
  fakes = await startFakes();
  dir = mkdtempSync(join(tmpdir(), 'entitle-secrets-'));
  dbPath = join(dir, 'entitle.db');
});
afterAll(() => fakes.close());

describe('secrets', () => {
  const ids: string[] = [];
  let token = '';

  it('a full workout leaves no plaintext secret in the database, the logs, the responses or the audit log', async () => {
    const t = await open();
    const record = async (request: { method: 'GET' | 'POST'; url: string; headers: Record<string, string>; payload?: object }) => {
      const response = await t.app.inject(request);
      responses.push(response.body, JSON.stringify(response.headers));
      return response;
    };
    token = await t.token('acme', 'alice', { plan: 'business' });
    apiTokens.push(token, await t.token('ops', 'olivia', { role: 'admin' }));
    for (const provider of ['google', 'microsoft'] as const) {
      const id = await connectCalendar(t, fakes[provider], token, { email: `secret-${provider}@example.com` });
      ids.push(id);
      fakes[provider].putEvent(`secret-${provider}@example.com`, provider === 'google' ? `secret-${provider}@example.com` : 'AAMkAD-default', { id: 'e1', start: '2026-12-01T09:00:00Z', end: '2026-12-01T10:00:00Z' });
    }
    const auth = { authorization: `Bearer ${token}` };
    await record({ method: 'GET', url: '/api/calendar/list/', headers: auth });
    for (const id of ids) await record({ method: 'POST', url: '/api/calendar/sync/', headers: auth, payload: { connectionId: id } });
    fakes.google.expireAccessTokens();
    fakes.microsoft.expireAccessTokens();
    await record({ method: 'GET', url: '/api/calendar/list/', headers: auth }); // refresh
    fakes.google.failNext({ path: /calendarList/, status: 500, body: { error: { message: 'boom' } } });
    await record({ method: 'GET', url: '/api/calendar/list/', headers: auth });
    await record({ method: 'GET', url: '/api/calendar/status/', headers: auth });
    await record({ method: 'GET', url: '/api/calendar/list/', headers: { authorization: `Bearer ${token}x` } });
    await record({ method: 'GET', url: '/api/admin/audit?limit=500', headers: { authorization: `Bearer ${apiTokens[1]}` } });
    await t.close();

    const secrets = [...fakes.google.issuedTokens, ...fakes.microsoft.issuedTokens, ...apiTokens.map((value) => value.slice('ent_'.length + 13))];
    expect(secrets.length).toBeGreaterThan(8);
    const files = [dbPath, `${dbPath}-wal`].filter(existsSync).map((path) => readFileSync(path).toString('latin1'));
    const db = new Database(dbPath, { readonly: true });
    const audit = JSON.stringify(db.prepare('SELECT * FROM audit_log').all());
    db.close();
    expect(logs.length).toBeGreaterThan(1000);
    for (const secret of secrets) {
      for (const file of files) {
        const at = file.indexOf(secret);
        expect(at === -1, `database file: ${secret.slice(0, 6)}… at ${at}: ${JSON.stringify(file.slice(Math.max(0, at - 120), at + 60))}`).toBe(true);
      }
      expect(logs.includes(secret), 'logs').toBe(false);
      expect(audit.includes(secret), 'audit log').toBe(false);
      for (const response of responses) expect(response.includes(secret), 'response').toBe(false);
    }
    for (const secret of secrets) expect(secret.length).toBeGreaterThan(20);
  });

  it('key rotation re-encrypts every token and leaves every connection usable', async () => {
    const before = new Database(dbPath, { readonly: true });
    const keyIdsBefore = (before.prepare('SELECT access_token FROM connections').all() as { access_token: string }[]).map((row) => row.access_token.split('.')[1]);
    before.close();
    let out = '';
    const code = await runCli(['keys', 'rotate', '--generate'], { stdout: (text) => (out += text), stderr: (text) => (out += text), env: { ENTITLE_DB: dbPath, ENTITLE_POLICIES: STARTER_POLICY_DIR }, cwd: dir });
    expect(code, out).toBe(0);
    const after = new Database(dbPath, { readonly: true });
    const keyIdsAfter = (after.prepare("SELECT access_token FROM connections WHERE status = 'valid'").all() as { access_token: string }[]).map((row) => row.access_token.split('.')[1]);
    after.close();
    expect(keyIdsAfter.length).toBe(2);
    for (const keyId of keyIdsAfter) expect(keyIdsBefore).not.toContain(keyId);

    const t = await open();
    try {
      const listed = await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: { authorization: `Bearer ${token}` } });
      expect(listed.statusCode, listed.body).toBe(200);
      expect(listed.json().connections).toHaveLength(2);
    } finally {
      await t.close();
    }
  });

  it('a tampered ciphertext or key id is detected: the connection must be reconnected, nothing is decrypted wrongly', async () => {
    const db = new Database(dbPath);
    const [first, second] = ids;
    const row = db.prepare('SELECT access_token, refresh_token FROM connections WHERE id = ?').get(first) as { access_token: string; refresh_token: string };
    const flip = (value: string) => {
      const parts = value.split('.');
      const body = Buffer.from(parts[3] as string, 'base64url');
      body[0] = (body[0] as number) ^ 1;
      parts[3] = body.toString('base64url');
      return parts.join('.');
    };
    db.prepare('UPDATE connections SET access_token = ?, refresh_token = ? WHERE id = ?').run(flip(row.access_token), flip(row.refresh_token), first);
    const other = db.prepare('SELECT access_token, refresh_token FROM connections WHERE id = ?').get(second) as { access_token: string; refresh_token: string };
    const rekey = (value: string) => value.split('.').map((part, i) => (i === 1 ? 'nokey' : part)).join('.');
    db.prepare('UPDATE connections SET access_token = ?, refresh_token = ? WHERE id = ?').run(rekey(other.access_token), rekey(other.refresh_token), second);
    db.close();
    const t = await open();
    try {
      for (const id of [first, second]) {
        const response = await t.app.inject({ method: 'POST', url: '/api/calendar/sync/', headers: { authorization: `Bearer ${token}` }, payload: { connectionId: id } });
        expect(response.statusCode, response.body).toBe(409);
        expect(response.json().error).toMatch(/connect/i);
      }
    } finally {
      await t.close();
    }
  });
});
