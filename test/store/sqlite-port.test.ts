// The SQL port on SQLite: one connection shared by every caller, so transactions take turns
// and a read never sees another caller's open transaction; `$n` placeholders in any order.

import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlitePort } from '../../src/store/sqlite/sqlite-port.js';

describe('SqlitePort', () => {
  let port: SqlitePort;
  beforeEach(() => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)');
    port = new SqlitePort(db);
  });
  afterEach(() => port.close());

  it('binds $n placeholders by number, in any order and repeated', async () => {
    expect(await port.get('SELECT $2 AS b, $1 AS a, $1 || $2 AS ab', ['x', 'y'])).toEqual({ b: 'y', a: 'x', ab: 'xy' });
    await port.run('INSERT INTO notes (body) VALUES ($1)', ['one']);
    expect(
      await port.all(`SELECT body FROM notes WHERE ${port.sql.inList('body', '$1')}`, [port.list(['one', 'two'])]),
    ).toEqual([{ body: 'one' }]);
  });

  it('makes a read wait while another caller has a transaction open, and shows it only committed', async () => {
    let inside!: () => void;
    const opened = new Promise<void>((resolve) => (inside = resolve));
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    const write = port.write(async (tx) => {
      await tx.run('INSERT INTO notes (body) VALUES ($1)', ['draft']);
      inside();
      await held;
    });
    await opened;
    const read = port.all<{ body: string }>('SELECT body FROM notes');
    let readDone = false;
    void read.then(() => (readDone = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(readDone).toBe(false);
    finish();
    await write;
    expect(await read).toEqual([{ body: 'draft' }]);
  });

  it('runs transactions one at a time, and rolls back the one that throws', async () => {
    const order: string[] = [];
    const first = port.write(async (tx) => {
      order.push('first begins');
      await tx.run('INSERT INTO notes (body) VALUES ($1)', ['a']);
      await new Promise((resolve) => setImmediate(resolve));
      order.push('first ends');
    });
    const second = port.write(async (tx) => {
      order.push('second begins');
      await tx.run('INSERT INTO notes (body) VALUES ($1)', ['a']);
    });
    await first;
    await expect(second).rejects.toMatchObject({ code: 'ENT_ERR_STORE_UNAVAILABLE' });
    expect(order).toEqual(['first begins', 'first ends', 'second begins']);
    expect(await port.all('SELECT body FROM notes')).toEqual([{ body: 'a' }]);
    // The connection is usable after the rollback.
    await port.write((tx) => tx.run('INSERT INTO notes (body) VALUES ($1)', ['b']));
    expect(await port.all('SELECT body FROM notes ORDER BY body')).toEqual([{ body: 'a' }, { body: 'b' }]);
  });
});
