// The batched audit of denials and reads in the real server: SIGTERM writes every waiting row;
// SIGKILL loses at most ENTITLE_AUDIT_READS_MAX_BATCH rows (the ones not yet committed), never
// an acknowledged write's row. SQLite file: the rows are counted in the file the server left.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { startChildServer, type ChildServer } from '../support/child-server.js';

const REQUESTS = 50;
const MAX_BATCH = 20;

describe('batched read audit in the running server', () => {
  let child: ChildServer | undefined;
  afterEach(async () => {
    await child?.kill('SIGKILL');
    child = undefined;
  });

  /** Starts a server whose rows wait a minute unless MAX_BATCH of them wait; REQUESTS denials, one after another. */
  async function deny(): Promise<string> {
    const database = join(mkdtempSync(join(tmpdir(), 'entitle-read-audit-')), 'entitle.db');
    child = await startChildServer({
      ENTITLE_DB: database,
      ENTITLE_AUDIT_READS_WINDOW_MS: '60000',
      ENTITLE_AUDIT_READS_MAX_BATCH: String(MAX_BATCH),
    });
    const headers = { authorization: `Bearer ${child.userToken}` };
    for (let i = 0; i < REQUESTS; i++)
      expect((await fetch(`${child.url}/api/calendar/list/`, { headers })).status).toBe(403);
    return database;
  }

  const denialRows = (database: string): number => {
    const db = new Database(database, { readonly: true });
    try {
      return db.prepare("SELECT count(*) FROM audit_log WHERE action = 'gate.denied'").pluck().get() as number;
    } finally {
      db.close();
    }
  };

  it('writes every waiting row when stopped with SIGTERM', { timeout: 60_000 }, async () => {
    const database = await deny();
    expect(await child?.kill('SIGTERM')).toBe(0);
    expect(denialRows(database)).toBe(REQUESTS);
  });

  it('loses at most MAX_BATCH rows to SIGKILL, and the chain still verifies', { timeout: 60_000 }, async () => {
    const database = await deny();
    await child?.kill('SIGKILL');
    const written = denialRows(database);
    expect(REQUESTS - written).toBeLessThanOrEqual(MAX_BATCH);
    // The rows were written in batches: whole batches of MAX_BATCH made it.
    expect(written).toBe(Math.floor(REQUESTS / MAX_BATCH) * MAX_BATCH);
    let out = '';
    const code = await runCli(['audit', 'verify'], {
      stdout: (text) => (out += text),
      stderr: (text) => (out += text),
      env: { ENTITLE_DB: database },
      cwd: tmpdir(),
    });
    expect(code, out).toBe(0);
  });
});
