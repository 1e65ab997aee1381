// Signing secrets at rest: the store holds them sealed with the token cipher (AES-256-GCM, key id,
// bound to the endpoint), never the whsec_ text; deliveries still verify with the secrets shown at
// registration and rotation; key rotation re-encrypts them and deliveries verify after it too.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config.js';
import { buildTestApp, dropSchema, NO_RATE_LIMITS, type TestApp } from '../support/app.js';
import { startReceiver, type Receiver } from '../support/webhook-receiver.js';

const SHORT = { ENTITLE_WEBHOOKS_RETRY_SCHEDULE: '20ms,20ms', ENTITLE_WEBHOOKS_ALLOW_PRIVATE: 'true' };
const key = () => randomBytes(32).toString('base64');
const K1 = `k1:${key()}`;
const K2 = `k2:${key()}`;

interface SecretRow {
  id: string;
  secret: string;
  previous_secret: string | null;
}

/** A store that outlives an app (SQLite file or a PostgreSQL schema of the test's own), read behind its back. */
function durableStore(cleanup: (() => Promise<void>)[]): { env: Env; rows: () => Promise<SecretRow[]> } {
  const query = 'SELECT id, secret, previous_secret FROM webhook_endpoints ORDER BY id';
  const url = process.env.DATABASE_URL;
  if (url) {
    const schema = `entitle_whsec_${randomBytes(6).toString('hex')}`;
    cleanup.push(() => dropSchema(url, schema));
    return {
      env: { DATABASE_SCHEMA: schema },
      rows: async () => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(`SET search_path = "${schema}"`);
          return (await client.query<SecretRow>(query)).rows;
        } finally {
          await client.end();
        }
      },
    };
  }
  const path = join(mkdtempSync(join(tmpdir(), 'entitle-whsec-')), 'entitle.db');
  return {
    env: { ENTITLE_DB: path },
    rows: async () => {
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare(query).all() as SecretRow[];
      } finally {
        db.close();
      }
    },
  };
}

describe('webhook signing secrets at rest', () => {
  const cleanup: (() => Promise<void>)[] = [];
  let t: TestApp | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await t?.close();
    await receiver?.close();
    t = receiver = undefined;
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('are stored sealed, not as whsec_ text; deliveries verify before and after a key rotation', async () => {
    const store = durableStore(cleanup);
    const env = (keys: string, active: string): Env => ({
      ...NO_RATE_LIMITS,
      ...SHORT,
      ...store.env,
      ENTITLE_ENCRYPTION_KEYS: keys,
      ENTITLE_ENCRYPTION_KEY_ID: active,
    });
    t = await buildTestApp({ env: env(K1, 'k1') });
    receiver = await startReceiver();
    let admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    await t.token('acme', 'amy');
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/admin/webhooks',
      headers: admin,
      payload: { url: receiver.url, events: ['entitlements.changed'] },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().endpoint.id as string;
    const first = created.json().secret as string;
    const rotated = await t.app.inject({
      method: 'POST',
      url: `/api/admin/webhooks/${id}/rotate-secret`,
      headers: admin,
    });
    const second = rotated.json().secret as string;
    expect(first).toMatch(/^whsec_/);
    expect(second).toMatch(/^whsec_/);

    const sealedUnder = async (keyId: string) => {
      const [row] = await store.rows();
      expect(row?.id).toBe(id);
      for (const column of [row?.secret, row?.previous_secret]) {
        expect(column).toMatch(new RegExp(`^v1\\.${keyId}\\.`));
        expect(column).not.toContain('whsec_');
        for (const secret of [first, second]) expect(column).not.toContain(secret.slice('whsec_'.length));
      }
    };
    await sealedUnder('k1');

    // Both secrets sign during the overlap: a receiver on either verifies.
    const override = (value: boolean) =>
      t?.app.inject({
        method: 'PUT',
        url: '/api/admin/tenants/acme/overrides/can_use_sso',
        headers: admin,
        payload: { value, reason: 'ticket 7' },
      });
    receiver.secrets = [first];
    await override(true);
    const [old] = await receiver.until((all) => all.length >= 1);
    expect(old?.verifyError).toBeUndefined();
    expect(old?.event?.data.changes).toEqual([{ feature: 'can_use_sso', before: false, after: true }]);

    // A new active key: rotation re-encrypts both of the endpoint's secrets, and signing still works.
    await t.close();
    t = await buildTestApp({ env: env(`${K1},${K2}`, 'k2') });
    admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    const keys = await t.app.inject({ method: 'POST', url: '/api/admin/keys/rotate', headers: admin });
    expect(keys.json()).toEqual({ reencrypted: 2, activeKeyId: 'k2' });
    await sealedUnder('k2');
    receiver.secrets = [second];
    await override(false);
    const all = await receiver.until((deliveries) => deliveries.length >= 2);
    expect(all[1]?.verifyError).toBeUndefined();
    expect(all[1]?.event?.data.changes).toEqual([{ feature: 'can_use_sso', before: true, after: false }]);
  });

  it('a secret the configured keys cannot open fails its attempts in the delivery log, naming the key', async () => {
    const store = durableStore(cleanup);
    t = await buildTestApp({
      env: { ...NO_RATE_LIMITS, ...SHORT, ...store.env, ENTITLE_ENCRYPTION_KEYS: K1, ENTITLE_ENCRYPTION_KEY_ID: 'k1' },
    });
    receiver = await startReceiver();
    let admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    await t.token('acme', 'amy');
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/admin/webhooks',
      headers: admin,
      payload: { url: receiver.url, events: ['entitlements.changed'] },
    });
    const id = created.json().endpoint.id as string;
    await t.close();
    // Key k1 is gone: the secret stays sealed, nothing is sent unsigned.
    t = await buildTestApp({
      env: { ...NO_RATE_LIMITS, ...SHORT, ...store.env, ENTITLE_ENCRYPTION_KEYS: K2, ENTITLE_ENCRYPTION_KEY_ID: 'k2' },
    });
    const app = t;
    admin = app.auth(await app.token('ops', 'olivia', { role: 'admin' }));
    await app.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/acme/overrides/can_use_sso',
      headers: admin,
      payload: { value: true, reason: 'ticket 7' },
    });
    let failed: Record<string, unknown> | undefined;
    for (;;) {
      const log = await app.app.inject({ method: 'GET', url: `/api/admin/webhooks/${id}/deliveries`, headers: admin });
      failed = (log.json().items as Record<string, unknown>[])[0];
      if (failed?.status === 'failed') break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(failed).toMatchObject({ status: 'failed', lastStatus: null });
    expect(String(failed?.lastError)).toContain('key "k1"');
    expect(receiver.deliveries).toHaveLength(0);
  });
});
