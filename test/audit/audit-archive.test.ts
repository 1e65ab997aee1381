// Audit retention: archive the oldest rows to a JSON Lines file with the chain anchors and
// delete them in one transaction; the store's chain verifies from the anchor and goes on; the
// file verifies on its own; tampering with either is caught; a failing archive changes nothing;
// and with ENTITLE_AUDIT_RETENTION under a steady read load the log stops growing.
// On SQLite, and on PostgreSQL when DATABASE_URL is set.

import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archiveAudit, verifyArchiveFile, verifyAuditLog } from '../../src/audit/audit-archive.js';
import type { AuditEvent, EntitleStore } from '../../src/store/store.js';
import { buildTestApp, NO_RATE_LIMITS } from '../support/app.js';
import { testDatabase, type TestDatabase } from '../support/store.js';

const event = (n: number): AuditEvent => ({
  actor: `user:u${n}`,
  tenantId: 'acme',
  action: 'calendar.list',
  target: null,
  outcome: 'success',
  details: { n },
});
const MINUTE = 60_000;
const START = Date.parse('2030-01-01T00:00:00Z');

describe('audit archive', () => {
  let database: TestDatabase;
  let store: EntitleStore;
  let now: number;
  let dir: string;
  beforeEach(async () => {
    now = START;
    database = testDatabase();
    store = await database.open({ clock: () => now });
    dir = mkdtempSync(join(tmpdir(), 'entitle-archive-'));
  });
  afterEach(async () => {
    await store.close();
    await database.drop();
  });

  /** Appends rows n..m, one a minute. */
  async function append(from: number, to: number): Promise<void> {
    for (let n = from; n <= to; n++) {
      await store.audit.append(event(n));
      now += MINUTE;
    }
  }
  const stored = async () => {
    const seqs: number[] = [];
    await store.audit.scan((record) => seqs.push(record.seq));
    return seqs;
  };
  const minute = (m: number) => new Date(START + m * MINUTE).toISOString();

  it('moves the rows before the cut-off to a file that verifies on its own; the store verifies from the anchor and goes on', async () => {
    await append(1, 10); // rows at minutes 0..9
    const first = join(dir, 'first.jsonl');
    const archived = await archiveAudit(store.audit, minute(4), first);
    expect(archived.rows).toBe(4);
    expect(await stored()).toEqual([5, 6, 7, 8, 9, 10]);
    expect(await store.audit.anchor()).toEqual(archived.anchor);

    const file = await verifyArchiveFile(first);
    expect(file).toMatchObject({
      ok: true,
      checked: 4,
      head: archived.anchor,
      header: { from: { seq: 0 }, to: archived.anchor, rows: 4 },
    });
    const lines = readFileSync(first, 'utf8').trim().split('\n');
    expect(lines.slice(1).map((line) => (JSON.parse(line) as { details: { n: number } }).details.n)).toEqual([
      1, 2, 3, 4,
    ]);

    expect(await verifyAuditLog(store.audit)).toMatchObject({ ok: true, checked: 6, head: { seq: 10 } });
    // A head recorded before the archive is still honoured: it is in the archive now.
    expect((await verifyAuditLog(store.audit, { seq: 2, hash: 'a'.repeat(64) })).ok).toBe(true);

    // The next archive continues from this one's anchor; appending goes on the same chain.
    await append(11, 12);
    const second = join(dir, 'second.jsonl');
    const next = await archiveAudit(store.audit, minute(8), second);
    expect(next.rows).toBe(4);
    expect((await verifyArchiveFile(second)).header?.from).toEqual(archived.anchor);
    expect(await verifyAuditLog(store.audit)).toMatchObject({ ok: true, checked: 4, head: { seq: 12 } });
  });

  it('archives every row and the chain still goes on from the anchor', async () => {
    await append(1, 3);
    const archived = await archiveAudit(store.audit, minute(100), join(dir, 'all.jsonl'));
    expect(archived.rows).toBe(3);
    expect(await stored()).toEqual([]);
    await append(4, 4);
    const [row] = (await store.audit.list()).items;
    expect(row).toMatchObject({ seq: 4, prevHash: archived.anchor?.hash });
    expect(await verifyAuditLog(store.audit)).toMatchObject({ ok: true, checked: 1 });
  });

  it('writes nothing and deletes nothing when no row is old enough', async () => {
    await append(1, 3);
    expect(await archiveAudit(store.audit, minute(0), join(dir, 'none.jsonl'))).toEqual({ rows: 0 });
    expect(readdirSync(dir)).toEqual([]);
    expect(await stored()).toEqual([1, 2, 3]);
  });

  it('leaves the store unchanged when the file cannot be written', async () => {
    await append(1, 3);
    writeFileSync(join(dir, 'taken.jsonl.partial'), 'in the way');
    await expect(archiveAudit(store.audit, minute(2), join(dir, 'taken.jsonl'))).rejects.toThrow();
    expect(await stored()).toEqual([1, 2, 3]);
    expect(await store.audit.anchor()).toBeUndefined();
  });

  it('catches a changed or removed row in an archive file', async () => {
    await append(1, 5);
    const path = join(dir, 'a.jsonl');
    await archiveAudit(store.audit, minute(4), path);
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    writeFileSync(
      path,
      `${[...lines.slice(0, 2), lines[2]?.replace('"n":2', '"n":7'), ...lines.slice(3)].join('\n')}\n`,
    );
    expect(await verifyArchiveFile(path)).toMatchObject({
      ok: false,
      firstBroken: { seq: 2, problem: expect.stringMatching(/changed/) },
    });
    writeFileSync(path, `${lines.slice(0, -1).join('\n')}\n`);
    expect(await verifyArchiveFile(path)).toMatchObject({ ok: false, firstBroken: { seq: 4 } });
  });

  it('catches a header whose `to` or `rows` disagree with the rows', async () => {
    await append(1, 5);
    const path = join(dir, 'a.jsonl');
    await archiveAudit(store.audit, minute(4), path);
    const [header, ...rows] = readFileSync(path, 'utf8').trim().split('\n') as [string, ...string[]];
    const third = JSON.parse(rows[2] as string) as { seq: number; hash: string };
    // `to` names a row inside the file (the chain holds it), while the file goes on past it.
    writeFileSync(
      path,
      `${[JSON.stringify({ ...JSON.parse(header), to: { seq: third.seq, hash: third.hash } }), ...rows].join('\n')}\n`,
    );
    expect(await verifyArchiveFile(path)).toMatchObject({
      ok: false,
      firstBroken: { seq: 3, problem: expect.stringMatching(/header says the rows end at 3:.*, they end at 4:/) },
    });
    writeFileSync(path, `${[JSON.stringify({ ...JSON.parse(header), rows: 3 }), ...rows].join('\n')}\n`);
    expect(await verifyArchiveFile(path)).toMatchObject({
      ok: false,
      firstBroken: { problem: 'the header says 3 rows, the file has 4' },
    });
  });
});

describe('ENTITLE_AUDIT_RETENTION', () => {
  it('keeps the audit log from growing under a steady read load', { timeout: 60_000 }, async () => {
    let now = START;
    const dir = mkdtempSync(join(tmpdir(), 'entitle-retention-'));
    // The rate limiter counts real minutes while this test moves its own clock: it is lifted here.
    const t = await buildTestApp({
      env: { ...NO_RATE_LIMITS, ENTITLE_AUDIT_RETENTION: '2m', ENTITLE_AUDIT_ARCHIVE_DIR: dir },
      clock: () => now,
    });
    try {
      const free = await t.token('globex', 'bob', { plan: 'free' });
      const sizes: number[] = [];
      // Ten minutes of denials (each an audit row), 20 a minute, a sweep each minute.
      for (let minuteOf = 0; minuteOf < 10; minuteOf++) {
        for (let i = 0; i < 20; i++)
          expect(
            (await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(free) })).statusCode,
          ).toBe(403);
        now += MINUTE;
        await t.app.entitle.auditRetention?.sweep();
        let rows = 0;
        await t.app.entitle.store.audit.scan(() => rows++);
        sizes.push(rows);
      }
      // After the retention has passed, the log holds about two minutes of rows, not ten.
      expect(Math.max(...sizes.slice(3))).toBeLessThanOrEqual(60);
      expect(sizes.at(-1)).toBeLessThanOrEqual(sizes[2] as number);
      const files = readdirSync(dir);
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) expect((await verifyArchiveFile(join(dir, file))).ok).toBe(true);
      expect((await verifyAuditLog(t.app.entitle.store.audit)).ok).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('refuses a retention that is not a duration, or one without an archive directory', async () => {
    await expect(
      buildTestApp({ env: { ENTITLE_AUDIT_RETENTION: 'forever', ENTITLE_AUDIT_ARCHIVE_DIR: '/tmp' } }),
    ).rejects.toThrow(/ENTITLE_AUDIT_RETENTION must be a duration/);
    await expect(buildTestApp({ env: { ENTITLE_AUDIT_RETENTION: '90d' } })).rejects.toThrow(
      /ENTITLE_AUDIT_ARCHIVE_DIR must be set/,
    );
  });
});
