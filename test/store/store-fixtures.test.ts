// Databases written by the store before it was written once over the SQL port (commit aff4f1b,
// test/fixtures/store-v3) open with today's code on each dialect: migrations run forward, every
// row is kept, the encrypted tokens still decrypt, the audit chain verifies, and the store
// goes on writing on the same chain.

import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ChainVerifier } from '../../src/audit/audit-chain.js';
import { secretContext } from '../../src/secrets/secret-context.js';
import { TokenCipher } from '../../src/secrets/token-crypto.js';
import { openStore } from '../../src/store/open-store.js';
import type { EntitleStore } from '../../src/store/store.js';
import { exportStore } from '../../src/store/transfer.js';

const FIXTURES = new URL('../fixtures/store-v3/', import.meta.url).pathname;
const URL_ = process.env.DATABASE_URL;
const cipher = new TokenCipher(new Map([['fixture', Buffer.alloc(32, 7)]]), 'fixture');
const ctx = { actor: 'test:operator' };

/** What the fixtures hold, table by table (made by make-fixtures.ts). */
// Billing, usage, audit anchor and webhook tables came after these fixtures were written: a store from then has none.
const EXPECTED_ROWS = {
  tenants: 2,
  tenant_addons: 0,
  overrides: 2,
  api_tokens: 4,
  connections: 2,
  connection_calendars: 1,
  busy_blocks: 2,
  billing_links: 0,
  billing_subscriptions: 0,
  billing_addons: 0,
  billing_events: 0,
  usage_counters: 0,
  usage_grants: 0,
  usage_reservations: 0,
  usage_outcomes: 0,
  audit_anchors: 0,
  audit_log: 20,
  webhook_endpoints: 0,
  webhook_events: 0,
  webhook_sequences: 0,
  webhook_deliveries: 0,
};

async function checkFixture(store: EntitleStore): Promise<void> {
  const dump = await exportStore(store);
  expect(Object.fromEntries(Object.entries(dump.tables).map(([table, rows]) => [table, rows.length]))).toEqual(
    EXPECTED_ROWS,
  );
  expect((await store.tenants.list()).items.map((tenant) => [tenant.id, tenant.plan])).toEqual([
    ['acme', 'pro'],
    ['globex', 'enterprise'],
  ]);
  expect(await store.overrides.get('acme', 'max_connected_calendars')).toMatchObject({
    value: 5,
    version: 2,
    reason: 'pilot extended',
  });
  expect(await store.overrides.get('globex', 'can_use_webhooks')).toMatchObject({
    value: false,
    expiresAt: '2099-01-01T00:00:00.000Z',
  });
  expect(
    (await store.tokens.list({ tenantId: 'acme' })).map((token) => [token.id, token.role, token.revokedAt !== null]),
  ).toEqual([
    ['tok-member', 'member', false],
    ['tok-admin', 'admin', false],
    ['tok-client', 'client', false],
    ['tok-revoked', 'member', true],
  ]);
  expect(await store.tokens.findBySecretHash('hash-tok-admin')).toMatchObject({ id: 'tok-admin', tenantId: 'acme' });
  const tokens = await store.connections.tokens('acme', 'conn-1');
  expect(cipher.decrypt(tokens?.accessToken as string, secretContext('connection.access_token', 'conn-1'))).toBe(
    'access-conn-1',
  );
  expect(cipher.decrypt(tokens?.refreshToken as string, secretContext('connection.refresh_token', 'conn-1'))).toBe(
    'refresh-conn-1',
  );
  expect(await store.connections.get('acme', 'conn-2')).toMatchObject({
    status: 'invalid',
    invalidReason: 'revoked by user',
  });
  expect(await store.connections.get('acme', 'conn-1')).toMatchObject({
    status: 'valid',
    lastSync: { calendars: 1, added: 2, updated: 0, deleted: 0, fullResync: true },
  });
  expect(await store.connections.syncState('acme', 'conn-1', 'primary')).toBe('sync-token-1');
  expect((await store.connections.busyBlocks('acme', 'conn-1')).map((block) => block.eventId)).toEqual([
    'ev-1',
    'ev-2',
  ]);
  const state = await store.oauthStates.consume('state-hash-1');
  expect(
    cipher.decrypt(state?.codeVerifier as string, secretContext('oauth_state.code_verifier', 'state-hash-1')),
  ).toBe('verifier-1');

  // The chain verifies, and goes on: a new write appends after the fixture's last row.
  await store.tenants.setPlan('acme', { plan: 'business', planVersion: 1 }, ctx);
  const verifier = new ChainVerifier();
  await store.audit.scan((record) => verifier.visit(record));
  expect(verifier.result).toMatchObject({ ok: true, checked: EXPECTED_ROWS.audit_log + 1 });
  // The change feed goes on from the fixture's history too.
  const { cursor, tenants } = await store.changes.loadAll();
  expect(tenants.map((snapshot) => snapshot.tenant.id).sort()).toEqual(['acme', 'globex']);
  await store.overrides.set(
    { tenantId: 'globex', feature: 'sso', value: true, reason: 'after migration', expiresAt: null },
    ctx,
  );
  expect(await store.changes.since(cursor)).toMatchObject({ tenantIds: ['globex'] });
}

describe('a store written before the SQL port', () => {
  it('opens on SQLite from its file, keeping every row and the audit chain', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'entitle-fixture-')), 'entitle.db');
    copyFileSync(join(FIXTURES, 'entitle-v3.sqlite'), path);
    const store = await openStore({ databasePath: path, databaseUrl: undefined, databaseSchema: undefined });
    try {
      await checkFixture(store);
    } finally {
      await store.close();
    }
  });

  describe.skipIf(!URL_)('on PostgreSQL', () => {
    const schema = `entitle_fixture_${randomBytes(6).toString('hex')}`;
    const admin = async (sql: string) => {
      const client = new pg.Client({ connectionString: URL_ });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    afterAll(() => admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));

    it('opens from a schema restored from its dump, keeping every row and the audit chain', async () => {
      await admin(readFileSync(join(FIXTURES, 'postgres.sql'), 'utf8').replaceAll('entitle_fixture', schema));
      const store = await openStore({ databasePath: ':memory:', databaseUrl: URL_ as string, databaseSchema: schema });
      try {
        await checkFixture(store);
      } finally {
        await store.close();
      }
    });
  });
});
