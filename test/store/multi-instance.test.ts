// Several instances, one PostgreSQL database: writes through one instance, reads through the
// others while they are under load. Every write is visible everywhere within one second, no
// decision is stale after that bound, and no acknowledged write is lost.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildServer, type ChildServer } from '../support/child-server.js';
import { RELIABILITY } from '../support/runs.js';

const URL = process.env.DATABASE_URL;
const schema = `entitle_multi_${randomBytes(6).toString('hex')}`;

describe.skipIf(!URL)('several instances on one PostgreSQL database', () => {
  const servers: ChildServer[] = [];
  beforeAll(async () => {
    const env = { DATABASE_URL: URL as string, DATABASE_SCHEMA: schema };
    // The first start seeds the demo tenant; the others find it there.
    servers.push(await startChildServer(env));
    servers.push(...(await Promise.all([startChildServer(env), startChildServer(env)])));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.kill('SIGTERM')));
    const client = new pg.Client({ connectionString: URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it('every write through one instance reaches the others within a second, under load', { timeout: 120_000 }, async () => {
    const [writer, ...readers] = servers as [ChildServer, ...ChildServer[]];
    const admin = writer.adminToken as string;
    const user = writer.userToken as string;
    expect(admin).toMatch(/^ent_/);
    const enabled = async (server: ChildServer) => {
      const response = await fetch(`${server.url}/api/entitlements/`, { headers: { authorization: `Bearer ${user}` } });
      return ((await response.json()) as { features: { can_use_webhooks: { enabled: boolean } } }).features.can_use_webhooks.enabled;
    };
    // Background load on the readers: gated reads as fast as they come back.
    let loading = true;
    let loadRequests = 0;
    const load = readers.map(async (server) => {
      while (loading) {
        await enabled(server);
        loadRequests++;
      }
    });

    const writes = RELIABILITY ? 200 : 40;
    const delays: number[] = [];
    let stale = 0;
    for (let i = 0; i < writes; i++) {
      const on = i % 2 === 0;
      const response = await fetch(`${writer.url}/api/admin/tenants/demo/overrides/can_use_webhooks`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ value: on, reason: `write ${i}` }),
      });
      expect(response.ok).toBe(true);
      const written = Date.now();
      // The writer itself: at once.
      expect(await enabled(writer)).toBe(on);
      for (const reader of readers) {
        while ((await enabled(reader)) !== on && Date.now() - written < 1000) await new Promise((resolve) => setTimeout(resolve, 2));
        const delay = Date.now() - written;
        delays.push(delay);
        if ((await enabled(reader)) !== on) stale++;
      }
    }
    loading = false;
    await Promise.all(load);
    delays.sort((a, b) => a - b);
    const p50 = delays[Math.floor(delays.length / 2)] as number;
    const max = delays.at(-1) as number;
    console.info(`multi-instance: 3 instances, ${writes} writes, ${loadRequests} background reads, propagation p50 ${p50} ms, max ${max} ms, ${stale} stale after 1 s`);
    expect(stale).toBe(0);
    expect(max).toBeLessThan(1000);

    // No acknowledged write lost: the audit log on any instance has them all.
    const audit = await fetch(`${readers[0]?.url}/api/admin/audit?tenant=demo&action=override.set&limit=500`, { headers: { authorization: `Bearer ${admin}` } });
    expect(((await audit.json()) as { items: unknown[] }).items).toHaveLength(writes);
  });
});
