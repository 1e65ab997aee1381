// PostgreSQL out of reach: decisions keep coming from the last known state with reason STALE
// (and the provider's Stale event) for the configured bound, then the gate fails closed; writes
// answer 503; when the database is back everything catches up with no restart. The outage is a
// TCP proxy in front of the real server that the test cuts and restores.

import net from 'node:net';
import { ProviderEvents } from '@openfeature/server-sdk';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

const URL = process.env.DATABASE_URL;

function startProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) return client.destroy();
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  return {
    listen: () => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port))),
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const until = async (condition: () => boolean | Promise<boolean>, ms: number) => {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe.skipIf(!URL)('PostgreSQL out of reach', () => {
  const target = new globalThis.URL(URL ?? 'postgres://x@127.0.0.1:5432/test');
  const proxy = startProxy({ host: target.hostname, port: Number(target.port || 5432) });
  let t: TestApp;
  let token: string;
  let admin: string;
  const events: string[] = [];

  beforeAll(async () => {
    const port = await proxy.listen();
    const viaProxy = new globalThis.URL(URL as string);
    viaProxy.port = String(port);
    t = await buildTestApp({
      env: { DATABASE_URL: viaProxy.toString(), ENTITLE_STALE_BOUND_SECONDS: '2' },
      routes: (app) => app.get('/gated', { config: { auth: 'required', feature: 'can_use_calendar_sync' } }, async () => ({ ok: true })),
    });
    token = await t.token('acme', 'alice', { plan: 'pro' });
    admin = await t.token('ops', 'olivia', { role: 'admin' });
    for (const event of [ProviderEvents.Stale, ProviderEvents.Ready, ProviderEvents.ConfigurationChanged]) t.app.entitle.provider.events.addHandler(event, () => void events.push(event));
  });
  afterAll(async () => {
    proxy.restore();
    await t?.close();
    await proxy.close();
  });

  it('serves STALE decisions within the bound, fails closed after it, refuses writes, and catches up on recovery', { timeout: 60_000 }, async () => {
    const gated = async () => (await t.app.inject({ method: 'GET', url: '/gated', headers: { authorization: `Bearer ${token}` } })).statusCode;
    expect(await gated()).toBe(200);
    const schema = t.app.entitle.config.databaseSchema as string;

    proxy.cut();
    await until(() => t.app.entitle.tenants.staleSince !== undefined, 10_000);
    expect(events).toContain(ProviderEvents.Stale);
    // Within the bound: the last known decision, saying it is stale.
    expect(await gated()).toBe(200);
    const details = await t.app.entitle.client.getBooleanDetails('can_use_calendar_sync', false, { tenantId: 'acme' });
    expect(details).toMatchObject({ value: true, reason: 'STALE' });
    // Writes cannot be made: 503 with a clear message, nothing half-done.
    const write = await t.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/acme/overrides/can_use_calendar_sync',
      headers: { authorization: `Bearer ${admin}` },
      payload: { value: false, reason: 'during outage' },
    });
    expect(write.statusCode).toBe(503);
    expect(write.json()).toMatchObject({ code: 'ENT_ERR_STORE_UNAVAILABLE', error: expect.stringMatching(/unavailable/i) });

    // Meanwhile another instance (straight to the database) revokes the feature.
    const direct = new pg.Client({ connectionString: URL });
    await direct.connect();
    await direct.query(`SET search_path = "${schema}"`);
    await direct.query(
      "INSERT INTO overrides (tenant_id, feature, value, reason, actor, expires_at, created_at, updated_at, version) VALUES ('acme', 'can_use_calendar_sync', 'false', 'elsewhere', 'other', NULL, '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z', 1)",
    );
    await direct.end();

    // Past the bound: nothing is trusted, the gate fails closed.
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(await gated()).toBe(503);

    proxy.restore();
    await until(() => t.app.entitle.tenants.staleSince === undefined, 15_000);
    expect(events).toContain(ProviderEvents.Ready);
    // Caught up: the write made elsewhere during the outage is in force, no restart.
    expect(await gated()).toBe(403);
    const after = await t.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/acme/overrides/can_use_calendar_sync',
      headers: { authorization: `Bearer ${admin}` },
      payload: { value: true, reason: 'back' },
    });
    expect(after.statusCode).toBe(200);
    expect(await gated()).toBe(200);
  });
});
