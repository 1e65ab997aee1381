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

/**
 * A TCP proxy in front of the real server. `cut()` is a loud outage (every socket reset, new
 * ones refused); `blackhole()` a silent partition: connections are accepted and kept open but
 * every byte either way is dropped, as when a network path dies without telling anyone.
 * `restore()` forwards again.
 */
function startProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let mode: 'open' | 'cut' | 'blackhole' = 'open';
  const server = net.createServer((client) => {
    if (mode === 'cut') return client.destroy();
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      socket.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => void (mode === 'open' && upstream.write(chunk)));
    upstream.on('data', (chunk: Buffer) => void (mode === 'open' && client.write(chunk)));
  });
  return {
    listen: () =>
      new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
      ),
    cut() {
      mode = 'cut';
      for (const socket of sockets) socket.destroy();
    },
    blackhole() {
      mode = 'blackhole';
    },
    restore() {
      mode = 'open';
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const until = async (condition: () => boolean | Promise<boolean>, ms: number) => {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const STALE_BOUND_MS = 2_000;

/**
 * The app's clock: real time, except while a test holds it. The stale bound is measured on this
 * clock, so "within the bound" means within the test's steps, not within however long a loaded
 * machine takes to run them (in real time, 2 s could pass between noticing the outage and the
 * next request); the test moves it past the bound instead of sleeping.
 */
function testClock() {
  let held: number | undefined;
  let offset = 0;
  const clock = {
    now: () => held ?? Date.now() + offset,
    hold() {
      held = clock.now();
    },
    advance(ms: number) {
      held = clock.now() + ms;
    },
    /** Runs on from where it was held: never backwards. */
    release() {
      if (held === undefined) return;
      offset = held - Date.now();
      held = undefined;
    },
  };
  return clock;
}

/** An app whose store is behind a proxy the test controls, with a gated route and tokens. */
function outageHarness() {
  const target = new globalThis.URL(URL ?? 'postgres://x@127.0.0.1:5432/test');
  const proxy = startProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const clock = testClock();
  const h = {
    proxy,
    clock,
    t: undefined as unknown as TestApp,
    token: '',
    free: '',
    admin: '',
    events: [] as string[],
  };
  beforeAll(async () => {
    const port = await proxy.listen();
    const viaProxy = new globalThis.URL(URL as string);
    viaProxy.port = String(port);
    h.t = await buildTestApp({
      env: { DATABASE_URL: viaProxy.toString(), ENTITLE_STALE_BOUND_SECONDS: String(STALE_BOUND_MS / 1000) },
      clock: clock.now,
      routes: (app) =>
        app.get('/gated', { config: { auth: 'required', feature: 'can_use_calendar_sync' } }, async () => ({
          ok: true,
        })),
    });
    h.token = await h.t.token('acme', 'alice', { plan: 'pro' });
    h.free = await h.t.token('freeloader', 'fred', { plan: 'free' });
    h.admin = await h.t.token('ops', 'olivia', { role: 'admin' });
    for (const event of [ProviderEvents.Stale, ProviderEvents.Ready, ProviderEvents.ConfigurationChanged])
      h.t.app.entitle.provider.events.addHandler(event, () => void h.events.push(event));
  });
  afterAll(async () => {
    proxy.restore();
    await h.t?.close();
    await proxy.close();
  });
  return h;
}

describe.skipIf(!URL)('PostgreSQL out of reach', () => {
  const h = outageHarness();
  const gated = async (token = h.token) =>
    (await h.t.app.inject({ method: 'GET', url: '/gated', headers: { authorization: `Bearer ${token}` } })).statusCode;
  const putOverride = (value: boolean, reason: string) =>
    h.t.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/acme/overrides/can_use_calendar_sync',
      headers: { authorization: `Bearer ${h.admin}` },
      payload: { value, reason },
    });

  it(
    'serves STALE decisions within the bound, fails closed after it, refuses writes, and catches up on recovery',
    { timeout: 60_000 },
    async () => {
      const { t, proxy, events, clock } = h;
      expect(await gated()).toBe(200);
      const schema = t.app.entitle.config.databaseSchema as string;

      clock.hold();
      proxy.cut();
      await until(() => t.app.entitle.tenants.staleSince !== undefined, 10_000);
      expect(events).toContain(ProviderEvents.Stale);
      // Within the bound: the last known decision, saying it is stale.
      expect(await gated()).toBe(200);
      const details = await t.app.entitle.client.getBooleanDetails('can_use_calendar_sync', false, {
        tenantId: 'acme',
      });
      expect(details).toMatchObject({ value: true, reason: 'STALE' });
      // Writes cannot be made: 503 with a clear message, nothing half-done.
      const write = await putOverride(false, 'during outage');
      expect(write.statusCode).toBe(503);
      expect(write.json()).toMatchObject({
        code: 'ENT_ERR_STORE_UNAVAILABLE',
        error: expect.stringMatching(/unavailable/i),
      });

      // Meanwhile another instance (straight to the database) revokes the feature.
      const direct = new pg.Client({ connectionString: URL });
      await direct.connect();
      await direct.query(`SET search_path = "${schema}"`);
      await direct.query(
        "INSERT INTO overrides (tenant_id, feature, value, reason, actor, expires_at, created_at, updated_at, version) VALUES ('acme', 'can_use_calendar_sync', 'false', 'elsewhere', 'other', NULL, '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z', 1)",
      );
      await direct.end();

      // Past the bound: nothing is trusted, the gate fails closed.
      clock.advance(STALE_BOUND_MS + 200);
      expect(await gated()).toBe(503);

      clock.release();
      proxy.restore();
      await until(() => t.app.entitle.tenants.staleSince === undefined, 15_000);
      expect(events).toContain(ProviderEvents.Ready);
      // Caught up: the write made elsewhere during the outage is in force, no restart.
      expect(await gated()).toBe(403);
      expect((await putOverride(true, 'back')).statusCode).toBe(200);
      expect(await gated()).toBe(200);
    },
  );
});

describe.skipIf(!URL)('PostgreSQL behind a silent partition (sockets open, traffic black-holed)', () => {
  const h = outageHarness();
  const timed = async <T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const started = Date.now();
    const value = await work();
    return { value, ms: Date.now() - started };
  };
  const gated = (token: string) =>
    timed(
      async () =>
        (await h.t.app.inject({ method: 'GET', url: '/gated', headers: { authorization: `Bearer ${token}` } }))
          .statusCode,
    );
  const deniedRows = async () =>
    (await h.t.app.entitle.store.audit.list({ action: 'gate.denied', tenantId: 'freeloader' })).items;

  it(
    'is reported STALE within seconds, writes answer 503 within seconds, denials stay 403 and are audited once the store is back',
    { timeout: 60_000 },
    async () => {
      const { t, proxy, clock } = h;
      // Warm: every token known, decisions cached, one denial audited the normal way.
      expect((await gated(h.token)).value).toBe(200);
      expect((await gated(h.free)).value).toBe(403);
      expect(await deniedRows()).toHaveLength(1);
      const admin = await t.app.inject({
        method: 'GET',
        url: '/api/admin/tenants/acme',
        headers: { authorization: `Bearer ${h.admin}` },
      });
      expect(admin.statusCode).toBe(200);

      const cutAt = Date.now();
      clock.hold();
      proxy.blackhole();
      await until(() => t.app.entitle.tenants.staleSince !== undefined, 10_000);
      const staleAfterMs = Date.now() - cutAt;
      // Heartbeat every second, answer due within two: stale in about three seconds.
      expect(staleAfterMs).toBeLessThan(5_000);

      // Within the bound: known decisions at once, a denial is still a 403 (not a 503) at once.
      const allowed = await gated(h.token);
      const denied = await gated(h.free);
      expect([allowed.value, denied.value]).toEqual([200, 403]);
      expect(Math.max(allowed.ms, denied.ms)).toBeLessThan(1_000);

      // A write gets a clear 503 within a few seconds instead of hanging.
      const write = await timed(() =>
        t.app.inject({
          method: 'PUT',
          url: '/api/admin/tenants/acme/overrides/can_use_webhooks',
          headers: { authorization: `Bearer ${h.admin}` },
          payload: { value: true, reason: 'during partition' },
        }),
      );
      expect(write.value.statusCode).toBe(503);
      expect(write.value.json()).toMatchObject({ code: 'ENT_ERR_STORE_UNAVAILABLE' });
      expect(write.ms).toBeLessThan(7_000);
      console.info(
        `silent partition: STALE after ${staleAfterMs} ms, gated 200/403 in ${allowed.ms}/${denied.ms} ms, write 503 in ${write.ms} ms`,
      );

      const restoredAt = Date.now();
      clock.release();
      proxy.restore();
      await until(() => t.app.entitle.tenants.staleSince === undefined, 15_000);
      const freshAfterMs = Date.now() - restoredAt;
      // The denial made during the partition was kept and is now in the audit log, saying when it happened.
      await until(async () => (await deniedRows()).length === 2, 5_000);
      expect((await deniedRows())[0]?.details).toMatchObject({
        status: 403,
        deferred: true,
        occurredAt: expect.any(String),
      });
      // Writes work again, with no restart.
      const after = await t.app.inject({
        method: 'PUT',
        url: '/api/admin/tenants/acme/overrides/can_use_webhooks',
        headers: { authorization: `Bearer ${h.admin}` },
        payload: { value: true, reason: 'healed' },
      });
      expect(after.statusCode, after.body).toBe(201);
      console.info(`silent partition: fresh again ${freshAfterMs} ms after the network came back`);
    },
  );
});
