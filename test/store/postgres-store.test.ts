// The store contract on PostgreSQL, plus what only PostgreSQL has: LISTEN/NOTIFY between
// instances, a listener that reconnects, concurrent conditional writes. Runs when DATABASE_URL
// is set (.ci/run sets it when a server answers on 127.0.0.1:5432); each harness gets a schema
// of its own in the shared database and drops it afterwards.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/postgres-ddl.js';
import { lockKeys } from '../../src/store/postgres/postgres-port.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { dumpPostgres } from '../support/database-dump.js';
import { describeStoreContract } from './store-contract.js';

const URL = process.env.DATABASE_URL;
const ctx = { actor: 'test:operator' };

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const newSchema = () => `entitle_test_${randomBytes(6).toString('hex')}`;

describe.skipIf(!URL)('PostgreSQL store', () => {
  describeStoreContract('PostgreSQL', async (clock) => {
    const schema = newSchema();
    const store = await PostgresStore.open({ url: URL as string, schema, clock });
    return {
      store,
      async breakAuditWrites() {
        await admin(async (client) => {
          await client.query(`SET search_path = "${schema}"`);
          await client.query(
            "CREATE FUNCTION break_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$",
          );
          await client.query(
            'CREATE TRIGGER break_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION break_audit()',
          );
        });
      },
      async tamperAuditRow(seq, actor) {
        await admin(async (client) => {
          await client.query(`SET search_path = "${schema}"`);
          await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
          await client.query('UPDATE audit_log SET actor = $1 WHERE seq = $2', [actor, seq]);
        });
      },
      dump: () => dumpPostgres(URL as string, schema),
      async close() {
        await store.close();
        await admin((client) => client.query(`DROP SCHEMA "${schema}" CASCADE`));
      },
    };
  });

  describe('PostgreSQL specifics', () => {
    const schema = newSchema();
    let a: PostgresStore;
    let b: PostgresStore;
    beforeAll(async () => {
      a = await PostgresStore.open({ url: URL as string, schema });
      b = await PostgresStore.open({ url: URL as string, schema });
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await admin((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    });

    it('migrates once, even with two instances opening together', async () => {
      const versions = await admin(async (client) =>
        (await client.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`)).rows.map(
          (row) => row.version,
        ),
      );
      expect(versions).toEqual(POSTGRES_MIGRATIONS.map((migration) => migration.version));
    });

    it("signals another instance's write within a second (NOTIFY)", async () => {
      let signalled = 0;
      const stop = a.changes.watch(() => signalled++);
      try {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const before = signalled;
        const started = Date.now();
        await b.tenants.create({ id: 'notify-me', name: 'n', plan: 'free' }, ctx);
        while (signalled === before && Date.now() - started < 1000)
          await new Promise((resolve) => setTimeout(resolve, 5));
        expect(signalled).toBeGreaterThan(before);
        expect(Date.now() - started).toBeLessThan(1000);
        const since = await a.changes.since('0');
        expect('tenantIds' in since && since.tenantIds).toContain('notify-me');
      } finally {
        stop();
      }
    });

    it('a killed listener connection reconnects, signals, and keeps receiving', async () => {
      let signalled = 0;
      const stop = a.changes.watch(() => signalled++);
      try {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const killed = await admin(
          async (client) =>
            (
              await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
                `entitle-listener:${schema}`,
              ])
            ).rowCount,
        );
        expect(killed).toBeGreaterThan(0);
        const afterKill = signalled;
        const deadline = Date.now() + 3000;
        while (signalled === afterKill && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 10));
        expect(signalled).toBeGreaterThan(afterKill); // the reconnection itself signals
        await new Promise((resolve) => setTimeout(resolve, 100));
        const before = signalled;
        await b.tenants.create({ id: 'after-reconnect', name: 'n', plan: 'free' }, ctx);
        const until = Date.now() + 2000;
        while (signalled === before && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
        expect(signalled).toBeGreaterThan(before);
      } finally {
        stop();
      }
    });

    it('two concurrent conditional writes with the same If-Match: exactly one wins', async () => {
      await a.tenants.create({ id: 'race', name: 'r', plan: 'free' }, ctx);
      await a.overrides.set({ tenantId: 'race', feature: 'f', value: true, reason: 'start', expiresAt: null }, ctx);
      const results = await Promise.allSettled([
        a.overrides.set({ tenantId: 'race', feature: 'f', value: false, reason: 'from a', expiresAt: null }, ctx, {
          ifVersion: 1,
        }),
        b.overrides.set({ tenantId: 'race', feature: 'f', value: false, reason: 'from b', expiresAt: null }, ctx, {
          ifVersion: 1,
        }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(
        results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code),
      ).toEqual(['ENT_ERR_VERSION_CONFLICT']);
      expect((await a.overrides.get('race', 'f'))?.version).toBe(2);
    });

    it("serializes writes per schema: another schema's writes do not wait for this one's lock", async () => {
      const otherSchema = newSchema();
      const other = await PostgresStore.open({ url: URL as string, schema: otherSchema });
      const holder = new pg.Client({ connectionString: URL });
      await holder.connect();
      try {
        expect(lockKeys(schema).write).not.toBe(lockKeys(otherSchema).write);
        // Another connection holds this schema's write lock, as a long write would.
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock($1)', [lockKeys(schema).write]);
        let blockedDone = false;
        const blocked = a.tenants
          .create({ id: 'waits', name: 'w', plan: 'free' }, ctx)
          .then(() => (blockedDone = true));
        await other.tenants.create({ id: 'goes-through', name: 'g', plan: 'free' }, ctx);
        expect(blockedDone).toBe(false);
        await holder.query('COMMIT');
        await blocked;
        expect(await a.tenants.get('waits')).toMatchObject({ id: 'waits' });
      } finally {
        await holder.end();
        await other.close();
        await admin((client) => client.query(`DROP SCHEMA IF EXISTS "${otherSchema}" CASCADE`));
      }
    });

    it('refuses to update or truncate audit rows (archives delete; the chain and its anchors catch a removal)', async () => {
      await a.audit.append({ actor: 'x', tenantId: null, action: 'x', target: null, outcome: 'success' });
      await expect(admin((client) => client.query(`UPDATE "${schema}".audit_log SET actor = 'b'`))).rejects.toThrow(
        /append-only/,
      );
      await expect(admin((client) => client.query(`TRUNCATE "${schema}".audit_log`))).rejects.toThrow(/append-only/);
    });

    it('a lost database is a 503 for reads and writes, not a crash', async () => {
      const broken = await PostgresStore.open({ url: URL as string, schema });
      await broken.close(); // every connection gone
      await expect(broken.tenants.get('x')).rejects.toMatchObject({
        code: 'ENT_ERR_STORE_UNAVAILABLE',
        statusCode: 503,
      });
      await expect(broken.tenants.create({ id: 'y', name: 'y', plan: 'free' }, ctx)).rejects.toMatchObject({
        code: 'ENT_ERR_STORE_UNAVAILABLE',
      });
    });
  });
});
