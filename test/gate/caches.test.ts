// The gate's decision cache and the token cache: a gated request never sees a decision older
// than a write that has returned, whether the write came from this process, another process
// on the same database, or the clock (an override expiring).

import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TenantOperations } from '../../src/tenants/tenant-operations.js';
import { buildTestApp, type TestApp } from '../support/app.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';
import { testDatabase, type TestDatabase } from '../support/store.js';

let t: TestApp;
let now: number;
let dbPath: string;
let database: TestDatabase;
beforeEach(async () => {
  now = Date.parse('2030-01-01T00:00:00Z');
  dbPath = join(mkdtempSync(join(tmpdir(), 'entitle-cache-')), 'e.db');
  database = testDatabase(dbPath);
  t = await buildTestApp({
    clock: () => now,
    env: database.env,
    routes: (app) => {
      app.get('/gated', { config: { auth: 'required', feature: 'can_use_webhooks' } }, async () => ({ ok: true }));
      app.get('/limit', { config: { auth: 'required' } }, async (request) => ({
        max: await request.entitlements.limit('max_connected_calendars'),
      }));
    },
  });
});
afterEach(async () => {
  await t.close();
  await database.drop();
});

/**
 * How soon another process's write must show: SQLite polls data_version every 20 ms (the gate
 * promises 100 ms); PostgreSQL instances hear of it by NOTIFY (multi-instance.test: within a second).
 */
const otherProcessBound = () => (database.kind === 'sqlite' ? 100 : 1_000);

const waitFor = async (condition: () => Promise<boolean>, ms = 2_000) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return Date.now();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('condition not met in time');
};

describe('decision cache', () => {
  it('never serves a decision older than a returned write (200 alternating writes)', { timeout: 60_000 }, async () => {
    const token = await t.token('acme', 'alice', { plan: 'free' });
    const gated = async () => (await t.app.inject({ method: 'GET', url: '/gated', headers: t.auth(token) })).statusCode;
    const limit = async () => (await t.app.inject({ method: 'GET', url: '/limit', headers: t.auth(token) })).json().max;
    let stale = 0;
    for (let i = 0; i < 200; i++) {
      const on = i % 2 === 0;
      // Two reads first, so the previous decision is certainly cached.
      await gated();
      await limit();
      await t.app.entitle.operations.setOverride(
        { tenantId: 'acme', feature: 'can_use_webhooks', value: on, reason: `flip ${i}` },
        { actor: 'test' },
      );
      await t.app.entitle.operations.setOverride(
        { tenantId: 'acme', feature: 'max_connected_calendars', value: i, reason: `flip ${i}` },
        { actor: 'test' },
      );
      if ((await gated()) !== (on ? 200 : 403)) stale++;
      if ((await limit()) !== i) stale++;
    }
    expect(stale).toBe(0);
  });

  it('follows a plan change and a policy-independent clear of an override at once', async () => {
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const gated = async () => (await t.app.inject({ method: 'GET', url: '/gated', headers: t.auth(token) })).statusCode;
    expect(await gated()).toBe(403);
    await t.app.entitle.operations.changePlan('acme', 'business', { actor: 'test' });
    expect(await gated()).toBe(200);
    await t.app.entitle.operations.setOverride(
      { tenantId: 'acme', feature: 'can_use_webhooks', value: false, reason: 'x' },
      { actor: 'test' },
    );
    expect(await gated()).toBe(403);
    await t.app.entitle.operations.clearOverride('acme', 'can_use_webhooks', { actor: 'test' });
    expect(await gated()).toBe(200);
  });

  it('an entry built on an expiring override ends when the override does', async () => {
    const token = await t.token('acme', 'alice', { plan: 'free' });
    await t.app.entitle.operations.setOverride(
      {
        tenantId: 'acme',
        feature: 'can_use_webhooks',
        value: true,
        reason: 'trial',
        expiresAt: '2030-01-01T00:01:00Z',
      },
      { actor: 'test' },
    );
    const gated = async () => (await t.app.inject({ method: 'GET', url: '/gated', headers: t.auth(token) })).statusCode;
    expect(await gated()).toBe(200);
    expect(await gated()).toBe(200);
    now += 61_000;
    expect(await gated()).toBe(403);
  });

  it('does not keep a decision whose evaluation was in flight while a write returned', async () => {
    const token = await t.token('acme', 'alice', { plan: 'business' });
    const gated = () => t.app.inject({ method: 'GET', url: '/gated', headers: t.auth(token) });
    // Hold the first evaluation after the provider has answered (with the state before the write).
    let hold = true;
    let reached!: () => void;
    const evaluated = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    t.app.entitle.client.addHooks({
      after: async () => {
        if (!hold) return;
        hold = false;
        reached();
        await released;
      },
    });
    const first = gated();
    await evaluated;
    await t.app.entitle.operations.setOverride(
      { tenantId: 'acme', feature: 'can_use_webhooks', value: false, reason: 'chargeback' },
      { actor: 'test' },
    );
    release();
    // The request that began before the write may pass; no request after the write may.
    expect((await first).statusCode).toBe(200);
    expect((await gated()).statusCode).toBe(403);
  });

  it('follows a write by another process on the same database within the bound (SQLite 100 ms, PostgreSQL 1 s)', async () => {
    const token = await t.token('acme', 'alice', { plan: 'free' });
    const gated = async () => (await t.app.inject({ method: 'GET', url: '/gated', headers: t.auth(token) })).statusCode;
    expect(await gated()).toBe(403);
    const other = await database.open();
    try {
      const ops = new TenantOperations({ store: other, policy: () => t.app.entitle.policy.snapshot, clock: () => now });
      const started = Date.now();
      await ops.setOverride(
        { tenantId: 'acme', feature: 'can_use_webhooks', value: true, reason: 'cli' },
        { actor: 'cli:test' },
      );
      const seen = await waitFor(async () => (await gated()) === 200);
      expect(seen - started).toBeLessThan(otherProcessBound());
    } finally {
      await other.close();
    }
  });
});

describe('token cache', () => {
  it('a revoked token stops working on the next request', async () => {
    const token = await t.token('acme', 'alice');
    const status = async () =>
      (await t.app.inject({ method: 'GET', url: '/limit', headers: t.auth(token) })).statusCode;
    expect(await status()).toBe(200);
    expect(await status()).toBe(200);
    const id = token.split('_')[1] as string;
    await t.app.entitle.store.tokens.revoke(id, { actor: 'test' });
    expect(await status()).toBe(401);
  });

  it('a token revoked by another process stops working within the bound (SQLite 100 ms, PostgreSQL 1 s)', async () => {
    const token = await t.token('acme', 'alice');
    const status = async () =>
      (await t.app.inject({ method: 'GET', url: '/limit', headers: t.auth(token) })).statusCode;
    expect(await status()).toBe(200);
    const other = await database.open();
    try {
      const started = Date.now();
      await other.tokens.revoke(token.split('_')[1] as string, { actor: 'cli:test' });
      const seen = await waitFor(async () => (await status()) === 401);
      expect(seen - started).toBeLessThan(otherProcessBound());
    } finally {
      await other.close();
    }
  });
});

describe('decision cache and policy reloads', () => {
  it('drops cached decisions when the policy reloads', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'entitle-cache-policy-'));
    for (const file of ['features.yaml', 'plans.yaml'])
      copyFileSync(join(STARTER_POLICY_DIR, file), join(directory, file));
    const app = await buildTestApp({
      env: { ENTITLE_POLICIES: directory },
      routes: (scope) =>
        scope.get('/gated', { config: { auth: 'required', feature: 'can_use_webhooks' } }, async () => ({ ok: true })),
    });
    try {
      const token = await app.token('acme', 'alice', { plan: 'pro' });
      const gated = async () =>
        (await app.app.inject({ method: 'GET', url: '/gated', headers: app.auth(token) })).statusCode;
      expect(await gated()).toBe(403);
      expect(await gated()).toBe(403); // now certainly from the cache
      // The new policy gives webhooks to Pro as well.
      const plans = readFileSync(join(directory, 'plans.yaml'), 'utf8');
      writeFileSync(
        join(directory, 'plans.yaml'),
        plans.replace(
          '      can_use_calendar_sync: true\n',
          '      can_use_calendar_sync: true\n      can_use_webhooks: true\n',
        ),
      );
      await app.app.entitle.policy.reload();
      expect(await gated()).toBe(200);
    } finally {
      await app.close();
    }
  });
});
