import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/sqlite-ddl.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { dumpSqlite } from '../support/database-dump.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('SQLite', async (clock) => {
  const store = SqliteStore.open({ path: ':memory:', clock });
  return {
    store,
    async breakAuditWrites() {
      store.db.exec(
        "CREATE TRIGGER break_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
      );
    },
    async tamperAuditRow(seq, actor) {
      store.db.exec('DROP TRIGGER audit_log_no_update');
      store.db.prepare('UPDATE audit_log SET actor = ? WHERE seq = ?').run(actor, seq);
    },
    dump: async () => dumpSqlite(store.db),
    close: () => store.close(),
  };
});

describe('SQLite store specifics', () => {
  it('creates the database file and its directory, in WAL mode, and migrates once', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'entitle-db-')), 'nested', 'entitle.db');
    const first = SqliteStore.open({ path });
    expect(first.db.pragma('journal_mode', { simple: true })).toBe('wal');
    await first.close();
    const second = SqliteStore.open({ path });
    expect(second.db.prepare('SELECT version FROM schema_migrations').pluck().all()).toEqual(
      SQLITE_MIGRATIONS.map((m) => m.version),
    );
    await second.close();
  });

  it('refuses to update audit rows (archives delete; the chain and its anchors catch a removal)', async () => {
    const store = SqliteStore.open({ path: ':memory:' });
    await store.audit.append({ actor: 'a', tenantId: null, action: 'x', target: null, outcome: 'success' });
    expect(() => store.db.prepare("UPDATE audit_log SET actor = 'b'").run()).toThrow(/append-only/);
    await store.close();
  });

  it('sees writes made by another connection through the change feed and data_version', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'entitle-db-')), 'entitle.db');
    const server = SqliteStore.open({ path });
    const cli = SqliteStore.open({ path });
    const { cursor } = await server.changes.loadAll();
    const signalled = new Promise<void>((resolve) => {
      const stop = server.changes.watch(() => {
        stop();
        resolve();
      });
    });
    await cli.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, { actor: 'cli' });
    await signalled;
    expect(await server.changes.since(cursor)).toMatchObject({ tenantIds: ['acme'] });
    await cli.close();
    await server.close();
  });

  it('asks for a full reload when a reader is further behind than the kept history', async () => {
    const store = SqliteStore.open({ path: ':memory:' });
    await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, { actor: 't' });
    store.db.exec("INSERT INTO changes (seq, tenant_id) VALUES (50000, 'acme'); DELETE FROM changes WHERE seq < 50000");
    expect(await store.changes.since('3')).toEqual({ reload: true });
    expect(await store.changes.since('49999')).toEqual({ cursor: '50000', tenantIds: ['acme'] });
    await store.close();
  });

  it('stores override values as JSON text, so their type survives', async () => {
    const store = SqliteStore.open({ path: ':memory:' });
    await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, { actor: 't' });
    await store.overrides.set(
      { tenantId: 'acme', feature: 'tier', value: 'gold', reason: 'r', expiresAt: null },
      { actor: 't' },
    );
    expect(store.db.prepare('SELECT value FROM overrides').pluck().get()).toBe('"gold"');
    await store.close();
  });
});
