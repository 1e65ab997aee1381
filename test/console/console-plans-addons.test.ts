/// <reference lib="dom" />
// The console's plans page (versions with their tenant counts, a migration's dry run and apply)
// and a tenant's add-ons (list, set a quantity, remove), in the real Chromium, clean under axe.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';
import { HAS_CHROMIUM, seriousViolations } from '../support/browser.js';
import { consoleBrowser } from '../support/console-browser.js';
import { copyPolicyDir } from '../support/policy.js';
import { PRO_FEATURES } from '../support/pro-versions.js';

/** Pro version 2 drops branding removal; version 1 is kept as sold. */
const PRO_V2 = `  pro:
    name: Pro
    extends: free
    version: 2
    billing:
      stripe:
        prices: [pro_monthly, pro_yearly]
    features:
${PRO_FEATURES.replace('      can_remove_branding: true\n', '')}
    versions:
      1:
        features:
${PRO_FEATURES.replace(/^ {6}/gm, '          ')}
`;

const ADDONS = `addons:
  sms_pack:
    name: SMS pack
    availableOn: [pro, business]
    features: { sms_reminders_per_month: 1000 }
    billing: { stripe: { prices: [sms_pack_monthly] } }
`;

function policyDir(): string {
  const dir = copyPolicyDir();
  const path = join(dir, 'plans.yaml');
  const text = readFileSync(path, 'utf8');
  writeFileSync(
    path,
    `${text.slice(0, text.indexOf('  pro:\n'))}${PRO_V2}\n${text.slice(text.indexOf('  business:\n'))}`,
  );
  writeFileSync(join(dir, 'addons.yaml'), ADDONS);
  return dir;
}

const consoles = consoleBrowser();

async function signedIn(): Promise<{ t: TestApp; page: Page; origin: string }> {
  const t = await buildTestApp({
    consoleDirectory: consoles.directory,
    env: { ENTITLE_RATE_LIMIT_ADMIN: '100000', ENTITLE_POLICIES: policyDir() },
  });
  const token = await t.token('ops', 'olga', { role: 'admin' });
  const setup = { actor: 'test:setup' };
  await t.app.entitle.operations.createTenant({ id: 'acme', name: 'Acme', plan: 'pro' }, setup);
  await t.app.entitle.store.tenants.setPlan('acme', { plan: 'pro', planVersion: 1 }, setup);
  await t.app.entitle.operations.createTenant({ id: 'globex', name: 'Globex', plan: 'pro' }, setup);
  const { page, origin } = await consoles.open(t);
  await page.goto(`${origin}/console`);
  await page.getByLabel('Admin API token').fill(token);
  await page.getByLabel('Admin API token').press('Enter');
  await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();
  return { t, page, origin };
}

const cells = (page: Page, caption: string) =>
  page
    .locator('table', { has: page.getByRole('caption').filter({ hasText: caption }) })
    .locator('tbody tr')
    .evaluateAll((rows) => rows.map((row) => [...row.querySelectorAll('td')].map((td) => td.textContent ?? '')));

describe.skipIf(!HAS_CHROMIUM)('plans and add-ons in the console', () => {
  it('shows each version of a plan with its tenants, dry-runs a migration listing what each tenant loses, and applies it', async () => {
    const { t, page } = await signedIn();
    await page.getByRole('link', { name: 'Plans' }).click();
    await page.getByRole('heading', { name: 'Plans', level: 1 }).waitFor();
    expect(await cells(page, 'Versions of pro')).toEqual([
      ['1', '', 'free@1', '1'],
      ['2', 'current', 'free@1', '1'],
    ]);
    expect(await seriousViolations(page)).toEqual([]);

    const form = page.getByRole('form', { name: 'Migrate tenants of pro' });
    expect(await form.getByLabel('From version').inputValue()).toBe('1');
    expect(await form.getByLabel('To version').inputValue()).toBe('2');
    await form.getByRole('button', { name: 'Dry run' }).click();
    await page.getByRole('caption').filter({ hasText: 'Dry run: pro 1 → 2, 1 tenant(s) would move' }).waitFor();
    expect(await cells(page, 'Dry run: pro 1 → 2')).toEqual([['acme', 'can_remove_branding: on → off', 'nothing']]);
    expect((await t.app.entitle.store.tenants.get('acme'))?.planVersion).toBe(1);
    expect(await seriousViolations(page)).toEqual([]);

    await form.getByRole('button', { name: 'Apply: move 1 tenant(s) to version 2' }).click();
    await page.locator('#main').getByText('Moved 1 tenant(s) of pro from version 1 to 2.').waitFor();
    expect(await cells(page, 'Versions of pro')).toEqual([
      ['1', '', 'free@1', '0'],
      ['2', 'current', 'free@1', '2'],
    ]);
    expect((await t.app.entitle.store.tenants.get('acme'))?.planVersion).toBe(2);
    expect(await t.app.entitle.store.audit.list({ action: 'tenant.plan.migrate' })).toMatchObject({
      items: [{ tenantId: 'acme', actor: expect.stringContaining('olga') }],
    });
  }, 60_000);

  it("lists a tenant's add-ons with their source, sets a quantity and removes it, and the decision follows", async () => {
    const { t, page, origin } = await signedIn();
    // An add-on a billing subscription's item gives: shown, but changed in the billing system only.
    await t.app.entitle.store.billing.handle({ provider: 'stripe', id: null, type: 'test' }, async (tx) => {
      await tx.putSubscriptionAddons('globex', 'stripe', 'sub_9', new Map([['sms_pack', 2]]));
      return { outcome: 'applied', tenantId: 'globex' };
    });
    await page.goto(`${origin}/console#/tenants/globex`);
    await page.getByRole('heading', { name: 'Add-ons', level: 2 }).waitFor();
    const caption = 'Add-ons held beside the plan';
    expect(await cells(page, caption)).toEqual([
      ['sms_pack', '2', 'stripe subscription sub_9', expect.any(String), 'change it in the billing system'],
    ]);
    const sms = page.locator('tr', { has: page.getByText('sms_reminders_per_month', { exact: true }) });
    expect(await sms.locator('td').nth(1).textContent()).toBe('2500');
    expect(await seriousViolations(page)).toEqual([]);

    const form = page.getByRole('form', { name: 'Hold an add-on' });
    await form.getByLabel('Add-on').selectOption('sms_pack');
    await form.getByLabel('Quantity').fill('3');
    await form.getByRole('button', { name: 'Set add-on' }).click();
    await page.locator('#main').getByText('Add-on sms_pack held with quantity 3.').waitFor();
    expect(await cells(page, caption)).toEqual([
      ['sms_pack', '3', 'operator', expect.any(String), 'Remove'],
      ['sms_pack', '2', 'stripe subscription sub_9', expect.any(String), 'change it in the billing system'],
    ]);
    expect(await sms.locator('td').nth(1).textContent()).toBe('5500');
    expect(await sms.locator('td').nth(3).textContent()).toBe('GRANTED_BY_ADDON');

    await page.getByRole('button', { name: 'Remove the add-on sms_pack' }).click();
    await page.locator('#main').getByText('Removed the add-on sms_pack.').waitFor();
    expect((await cells(page, caption)).map((row) => row[2])).toEqual(['stripe subscription sub_9']);
    expect(await sms.locator('td').nth(1).textContent()).toBe('2500');
    expect((await t.app.entitle.store.audit.list({ tenantId: 'globex' })).items.map((row) => row.action)).toEqual(
      expect.arrayContaining(['tenant.addon.set', 'tenant.addon.remove']),
    );
    expect(await seriousViolations(page)).toEqual([]);
  }, 60_000);
});
