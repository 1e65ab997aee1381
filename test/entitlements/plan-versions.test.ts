// Plan versions: tenants keep the version they were put on across reloads and restarts, a reload
// that takes something from a version tenants are on is refused with its position, and a
// migration lists (dry run) and moves exactly the tenants on the old version, audited, with their
// OFREP streams told to refetch.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config.js';
import { buildTestApp, dropSchema, type TestApp } from '../support/app.js';
import { listeningApp, openStream, refetch, type Closing } from '../support/ofrep-streams.js';
import { copyPolicyDir } from '../support/policy.js';
import { PRO_V1, PRO_V2 } from '../support/pro-versions.js';

const closing: Closing = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

/** The starter plans with pro's block replaced. */
function withPro(dir: string, proBlock: string): void {
  const path = join(dir, 'plans.yaml');
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('  pro:\n');
  const end = text.indexOf('  business:\n');
  writeFileSync(path, `${text.slice(0, start)}${proBlock}\n${text.slice(end)}`);
}

/** A store that outlives an app: a temp SQLite file, or a PostgreSQL schema of the test's own. */
function durableStore(): Env {
  if (process.env.DATABASE_URL) {
    const schema = `entitle_versions_${randomBytes(6).toString('hex')}`;
    closing.push(() => dropSchema(process.env.DATABASE_URL as string, schema));
    return { DATABASE_SCHEMA: schema };
  }
  return { ENTITLE_DB: join(mkdtempSync(join(tmpdir(), 'entitle-versions-')), 'entitle.db') };
}

async function entitlements(t: TestApp, admin: string, tenant: string) {
  const response = await t.app.inject({
    method: 'GET',
    url: `/api/admin/tenants/${tenant}/entitlements`,
    headers: t.auth(admin),
  });
  expect(response.statusCode).toBe(200);
  const body = response.json<{
    plan: string;
    planVersion: number;
    features: { feature: string; value: unknown; planVersion: number | null }[];
  }>();
  return { ...body, value: (key: string) => body.features.find((f) => f.feature === key)?.value };
}

describe('plan versions', () => {
  it('keep a tenant on pro v1 with what v2 drops, across reloads and restarts; a tenant created after gets v2', async () => {
    const dir = copyPolicyDir();
    withPro(dir, PRO_V1);
    const env = { ENTITLE_POLICIES: dir, ...durableStore() };
    const first = await buildTestApp({ env });
    closing.push(() => first.app.close());
    const admin = await first.token('ops', 'olga', { role: 'admin' });
    await first.token('acme', 'alice', { plan: 'pro' });
    withPro(dir, PRO_V2);
    await first.app.entitle.policy.reload();
    expect(first.app.entitle.policy.snapshot.plans.get('pro')?.version).toBe(2);

    const acme = await entitlements(first, admin, 'acme');
    expect([acme.plan, acme.planVersion, acme.value('can_remove_branding'), acme.value('max_booking_pages')]).toEqual([
      'pro',
      1,
      true,
      10,
    ]);
    const created = await first.app.inject({
      method: 'POST',
      url: '/api/admin/tenants',
      headers: first.auth(admin),
      payload: { id: 'newco', plan: 'pro' },
    });
    expect(created.json()).toMatchObject({ id: 'newco', plan: 'pro', planVersion: 2 });
    const newco = await entitlements(first, admin, 'newco');
    expect([newco.planVersion, newco.value('can_remove_branding'), newco.value('max_booking_pages')]).toEqual([
      2,
      false,
      20,
    ]);
    // Setting the plan a tenant is already on keeps its version; moving versions is a migration.
    const same = await first.app.inject({
      method: 'PATCH',
      url: '/api/admin/tenants/acme',
      headers: first.auth(admin),
      payload: { plan: 'pro' },
    });
    expect(same.json().after).toMatchObject({ plan: 'pro', planVersion: 1 });
    await first.app.close();

    const second = await buildTestApp({ env });
    closing.push(() => second.app.close());
    const again = await entitlements(second, admin, 'acme');
    expect([again.planVersion, again.value('can_remove_branding')]).toEqual([1, true]);
    const bulk = await second.app.inject({
      method: 'POST',
      url: '/ofrep/v1/evaluate/flags/can_remove_branding',
      headers: second.auth(await second.token('acme', 'bob')),
      payload: { context: {} },
    });
    expect(bulk.json()).toMatchObject({ value: true, metadata: { plan: 'pro', planVersion: 1 } });
  });

  it('refuse a reload that takes something from a version tenants are on, at its position, keeping the last good policy', async () => {
    const dir = copyPolicyDir();
    withPro(dir, PRO_V2);
    const t = await buildTestApp({ env: { ENTITLE_POLICIES: dir } });
    closing.push(() => t.close());
    await t.token('acme', 'alice', { plan: 'pro' });
    await t.app.entitle.store.tenants.setPlan('acme', { plan: 'pro', planVersion: 1 }, { actor: 'test' });
    await t.token('beta', 'bob', { plan: 'pro' });
    await t.app.entitle.store.tenants.setPlan('beta', { plan: 'pro', planVersion: 1 }, { actor: 'test' });
    const before = t.app.entitle.policy.snapshot.version;

    const path = join(dir, 'plans.yaml');
    const text = readFileSync(path, 'utf8');
    const revoked = text.replace('          can_remove_branding: true\n', '          can_remove_branding: false\n');
    writeFileSync(path, revoked);
    await t.app.entitle.policy.reload();
    const line = revoked.split('\n').findIndex((l) => l.includes('can_remove_branding: false')) + 1;
    expect(t.app.entitle.policy.snapshot.version).toBe(before);
    expect(t.app.entitle.policy.status.lastError?.issues).toEqual([
      {
        file: expect.stringMatching(/plans\.yaml$/),
        line,
        column: 32,
        message: expect.stringMatching(
          /^plans\.pro\.versions\.1\.features\.can_remove_branding: takes can_remove_branding away from version 1 of plan pro, which 2 tenants are on \(true → false\)/,
        ),
      },
    ]);

    // A grant in place is fine.
    writeFileSync(
      path,
      text.replace(
        '          can_remove_branding: true\n',
        '          can_remove_branding: true\n          can_use_webhooks: true\n',
      ),
    );
    await t.app.entitle.policy.reload();
    expect(t.app.entitle.policy.status.lastError).toBeNull();
    expect(t.app.entitle.policy.snapshot.version).not.toBe(before);
  });

  it('migrate: the dry run lists exactly the tenants that lose, applying moves them audited and their streams refetch; a re-run moves nobody', async () => {
    const dir = copyPolicyDir();
    withPro(dir, PRO_V2);
    const r = await listeningApp(closing, { env: { ENTITLE_POLICIES: dir } });
    const { store } = r.t.app.entitle;
    const acmeToken = await r.t.token('acme', 'alice', { plan: 'pro' });
    await r.t.token('beta', 'bob', { plan: 'pro' });
    await r.t.token('gamma', 'gil', { plan: 'pro' });
    await store.tenants.setPlan('acme', { plan: 'pro', planVersion: 1 }, { actor: 'test' });
    await store.tenants.setPlan('beta', { plan: 'pro', planVersion: 1 }, { actor: 'test' });
    // beta keeps branding removal through an override: it loses nothing of it.
    await store.overrides.set(
      { tenantId: 'beta', feature: 'can_remove_branding', value: true, reason: 'contract', expiresAt: null },
      { actor: 'test' },
    );
    const migrate = (payload: object) =>
      r.t.app.inject({
        method: 'POST',
        url: '/api/admin/plans/pro/migrations',
        headers: r.t.auth(r.admin),
        payload,
      });

    const dry = await migrate({ from: 1, to: 2, dryRun: true });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toEqual({
      plan: 'pro',
      from: 1,
      to: 2,
      dryRun: true,
      moved: 0,
      tenants: [
        {
          tenant: 'acme',
          loses: [{ feature: 'can_remove_branding', before: true, after: false }],
          gains: [{ feature: 'max_booking_pages', before: 10, after: 20 }],
        },
        { tenant: 'beta', loses: [], gains: [{ feature: 'max_booking_pages', before: 10, after: 20 }] },
      ],
    });
    expect((await store.tenants.get('acme'))?.planVersion).toBe(1);

    const versions = await r.t.app.inject({
      method: 'GET',
      url: '/api/admin/plans/pro/versions',
      headers: r.t.auth(r.admin),
    });
    expect(versions.json().versions.map((v: { version: number; tenants: number }) => [v.version, v.tenants])).toEqual([
      [1, 2],
      [2, 1],
    ]);

    const sse = await openStream(closing, r.url, acmeToken);
    const applied = await migrate({ from: 1, to: 2 });
    expect(applied.json()).toMatchObject({ dryRun: false, moved: 2 });
    await refetch(sse);
    expect((await store.tenants.get('acme'))?.planVersion).toBe(2);
    const audit = (await store.audit.list({ action: 'tenant.plan.migrate' })).items;
    expect(audit.map((row) => row.tenantId).sort()).toEqual(['acme', 'beta']);
    expect(audit.find((row) => row.tenantId === 'acme')?.details).toMatchObject({
      before: { plan: 'pro', planVersion: 1 },
      after: { plan: 'pro', planVersion: 2 },
      loses: [{ feature: 'can_remove_branding', before: true, after: false }],
    });
    expect((await migrate({ from: 1, to: 2 })).json()).toMatchObject({ moved: 0, tenants: [] });
  });

  it('refuse a migration to a version the plan does not have, naming the field', async () => {
    const dir = copyPolicyDir();
    withPro(dir, PRO_V2);
    const r = await listeningApp(closing, { env: { ENTITLE_POLICIES: dir } });
    const response = await r.t.app.inject({
      method: 'POST',
      url: '/api/admin/plans/pro/migrations',
      headers: r.t.auth(r.admin),
      payload: { from: 1, to: 3 },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toBe('to: plan "pro" has no version 3 (it has 1, 2)');
  });
});
