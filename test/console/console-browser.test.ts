/// <reference lib="dom" />
// The operator console in the real Chromium: sign in, find a tenant, grant a feature until a
// date and see the decision change, a stale edit shows the conflict, a policy preview shows its
// impact, the audit shows the change — with the keyboard alone, and axe-core on every page.

import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';
import { HAS_CHROMIUM, seriousViolations } from '../support/browser.js';
import { consoleBrowser } from '../support/console-browser.js';

const consoles = consoleBrowser();

interface Console {
  readonly t: TestApp;
  readonly page: Page;
  readonly adminToken: string;
  readonly origin: string;
  /** Content-Security-Policy complaints the page logged. */
  readonly cspErrors: string[];
}

async function startConsole(): Promise<Console> {
  const t = await buildTestApp({ consoleDirectory: consoles.directory, env: { ENTITLE_RATE_LIMIT_ADMIN: '100000' } });
  const adminToken = await t.token('ops', 'olga', { role: 'admin' });
  await t.app.entitle.operations.createTenant(
    { id: 'acme', name: 'Acme Corporation', plan: 'free' },
    { actor: 'test:setup' },
  );
  await t.app.entitle.operations.createTenant({ id: 'globex', name: 'Globex', plan: 'pro' }, { actor: 'test:setup' });
  const { page, origin } = await consoles.open(t);
  const cspErrors: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) cspErrors.push(message.text());
  });
  return { t, page, adminToken, origin, cspErrors };
}

/** Presses Tab until the focused element matches (at most `max` times): what a keyboard user does. */
async function tabTo(
  page: Page,
  matches: (element: { tag: string; name: string; type: string }) => boolean,
  max = 80,
): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const element = document.activeElement as HTMLElement | null;
      const label = element?.id ? document.querySelector(`label[for="${element.id}"]`)?.textContent : undefined;
      return {
        tag: element?.tagName.toLowerCase() ?? '',
        name: (element?.getAttribute('aria-label') ?? label ?? element?.textContent ?? '').trim(),
        type: element?.getAttribute('type') ?? '',
      };
    });
    if (matches(focused)) return;
  }
  throw new Error('the element was not reachable with Tab');
}
const named = (name: string | RegExp) => (element: { name: string }) =>
  typeof name === 'string' ? element.name === name : name.test(element.name);

async function signInWithKeyboard(c: Console): Promise<void> {
  await c.page.goto(`${c.origin}/console`);
  await c.page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  await tabTo(c.page, named('Admin API token'));
  await c.page.keyboard.type(c.adminToken);
  await c.page.keyboard.press('Enter');
  await c.page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();
}

describe.skipIf(!HAS_CHROMIUM)('the operator console in Chromium', () => {
  it('signs in, finds a tenant, grants a feature until a date, and shows the new decision and its audit row — by keyboard, every page clean under axe', async () => {
    const c = await startConsole();
    const { page } = c;
    await c.page.goto(`${c.origin}/console`);
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await signInWithKeyboard(c);
    expect(await seriousViolations(page)).toEqual([]);

    // Find Acme by part of its name, on the free plan.
    await tabTo(page, named('Id or name contains'));
    await page.keyboard.type('corp');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowDown'); // the plan list: from "Any plan" to the first plan, free
    expect(await page.getByLabel('Plan').inputValue()).toBe('free');
    await tabTo(page, named('Search'));
    await page.keyboard.press('Enter');
    await page.getByRole('caption').filter({ hasText: 'matching "corp" on plan free' }).waitFor();
    expect(await page.locator('tbody tr').allTextContents()).toEqual([expect.stringContaining('Acme Corporation')]);
    await tabTo(page, named('acme'));
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Acme Corporation (acme)', level: 1 }).waitFor();
    const sso = page.locator('tr', { has: page.getByText('can_use_sso', { exact: true }) });
    expect(await sso.locator('td').nth(1).textContent()).toBe('off');
    expect(await seriousViolations(page)).toEqual([]);

    // Grant SSO until the end of 2030-12-31, with a reason.
    await tabTo(page, named('Grant Single sign-on'));
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Grant or revoke a feature');
    await tabTo(page, named('Reason'));
    await page.keyboard.type('trial for the Q4 pilot');
    await page.keyboard.press('Tab');
    await page.keyboard.type('12312030');
    expect(await page.getByLabel('Until (optional)').inputValue()).toBe('2030-12-31');
    await tabTo(page, named('Save override'));
    await page.keyboard.press('Enter');
    await page
      .locator('#main')
      .getByText(/^Saved: .* is on for acme until 2030-12-31\./)
      .waitFor();
    expect(await sso.locator('td').nth(1).textContent()).toBe('on');
    expect(await sso.locator('td').nth(2).textContent()).toBe('override');
    const overrideRow = page.locator('section[aria-labelledby="overrides-heading"] tbody tr');
    expect(await overrideRow.locator('td').allTextContents()).toEqual([
      'can_use_sso',
      'on',
      'trial for the Q4 pilot',
      'user:olga@ops',
      expect.stringContaining('2030'),
      'yes',
      'Remove',
    ]);
    // The API agrees: the same decision for the tenant itself.
    const decision = await c.t.app.entitle.client.getBooleanValue('can_use_sso', false, {
      tenantId: 'acme',
      targetingKey: 'x',
    });
    expect(decision).toBe(true);

    // The audit page lists the change, and the chain verifies with a head to keep.
    await tabTo(page, named('Audit'));
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
    const newest = page.locator('tbody tr').first();
    expect(await newest.locator('td').nth(2).textContent()).toBe('override.set');
    expect(await newest.locator('td').nth(1).textContent()).toBe('user:olga@ops');
    await tabTo(page, named('Verify the chain'));
    await page.keyboard.press('Enter');
    await page.getByText(/The chain is intact: \d+ rows checked\./).waitFor();
    expect(await page.locator('.ok code').textContent()).toMatch(/^\d+:[0-9a-f]{64}$/);
    expect(await seriousViolations(page)).toEqual([]);

    await tabTo(page, named('Policy'));
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Policy', level: 1 }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    expect(c.cspErrors).toEqual([]);
  }, 60_000);

  it('shows the conflict and the current value when someone else changed the override first, and saves nothing', async () => {
    const c = await startConsole();
    await signInWithKeyboard(c);
    await c.page.goto(`${c.origin}/console#/tenants/acme`);
    await c.page.getByRole('heading', { name: 'Acme Corporation (acme)', level: 1 }).waitFor();
    // Another operator grants webhooks after this page was loaded.
    await c.t.app.entitle.operations.setOverride(
      { tenantId: 'acme', feature: 'can_use_webhooks', value: true, reason: 'beta program', expiresAt: null },
      { actor: 'user:kim@ops' },
    );

    await c.page.getByRole('button', { name: /^Grant .*webhooks/i }).press('Enter');
    await c.page.getByLabel('Value').selectOption('false');
    await c.page.getByLabel('Reason').fill('not paying');
    await c.page.getByRole('button', { name: 'Save override' }).press('Enter');
    await c.page.getByRole('alert').filter({ hasText: 'Someone else changed this' }).waitFor();
    expect(await c.page.getByRole('alert').filter({ hasText: 'Someone else changed this' }).textContent()).toBe(
      'Someone else changed this since the page was loaded: it is now on (set by user:kim@ops: "beta program"). Nothing was saved; check and submit again.',
    );
    expect((await c.t.app.entitle.store.overrides.get('acme', 'can_use_webhooks'))?.value).toBe(true);
    // Having seen the current value, the operator submits again: now it applies.
    await c.page.getByRole('button', { name: 'Save override' }).press('Enter');
    await c.page
      .locator('#main')
      .getByText(/^Saved: .* is off for acme\./)
      .waitFor();
    expect((await c.t.app.entitle.store.overrides.get('acme', 'can_use_webhooks'))?.value).toBe(false);
  }, 60_000);

  it("lists a tenant's open reservations and releases one, clean under axe", async () => {
    const c = await startConsole();
    const held = await c.t.app.entitle.meters.reserve({
      tenantId: 'globex',
      feature: 'sms_reminders_per_month',
      amount: 3,
      ttlSeconds: 3600,
      context: { actor: 'user:gina@globex' },
    });
    if (!held.granted) throw new Error('the pro plan covers 3 units');
    await signInWithKeyboard(c);
    await c.page.goto(`${c.origin}/console#/tenants/globex`);
    await c.page.getByRole('heading', { name: 'Open reservations', level: 2 }).waitFor();
    const row = c.page.getByRole('row').filter({ hasText: held.reservation.id });
    expect(await row.getByRole('cell').allTextContents()).toEqual([
      held.reservation.id,
      'sms_reminders_per_month',
      '3',
      'user:gina@globex',
      expect.any(String),
      expect.any(String),
      'Release',
    ]);
    expect(await seriousViolations(c.page)).toEqual([]);
    await c.page.getByRole('button', { name: `Release reservation ${held.reservation.id}` }).press('Enter');
    await c.page
      .locator('#main')
      .getByText(`Released 3 sms_reminders_per_month held by ${held.reservation.id}.`)
      .waitFor();
    expect(await c.t.app.entitle.meters.reservations('globex')).toEqual([]);
    const audit = await c.t.app.entitle.store.audit.list({ tenantId: 'globex', action: 'usage.reservation.release' });
    expect(audit.items).toHaveLength(1);
  }, 60_000);

  it('registers a webhook endpoint, shows its secret once, and opens its delivery log', async () => {
    const c = await startConsole();
    await signInWithKeyboard(c);
    await c.page.goto(`${c.origin}/console#/webhooks`);
    await c.page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    await c.page.getByLabel('URL').fill('https://receiver.test/hooks');
    await c.page.getByLabel('tenant.deleted').check();
    await c.page.getByRole('button', { name: 'Register' }).press('Enter');
    const alert = c.page.getByRole('alert').filter({ hasText: 'copy the signing secret now' });
    await alert.waitFor();
    const [endpoint] = await c.t.app.entitle.store.webhooks.list();
    expect(endpoint).toMatchObject({ url: 'https://receiver.test/hooks', events: ['tenant.deleted'] });
    expect(await alert.locator('code').textContent()).toMatch(/^whsec_/);
    await c.page.getByRole('link', { name: endpoint?.id ?? '' }).press('Enter');
    await c.page.getByRole('heading', { name: 'Deliveries to https://receiver.test/hooks', level: 1 }).waitFor();
    expect(c.cspErrors).toEqual([]);
  }, 60_000);

  it('previews a changed policy file: validation with file:line:column, and the impact on tenants', async () => {
    const c = await startConsole();
    await signInWithKeyboard(c);
    await c.page.goto(`${c.origin}/console#/policy`);
    await c.page.getByRole('heading', { name: 'Policy', level: 1 }).waitFor();
    const plans = await c.t.app.inject({ method: 'GET', url: '/api/admin/policy', headers: c.t.auth(c.adminToken) });
    expect(await c.page.getByText(plans.json().version).count()).toBe(1);

    await c.page.getByLabel('File name').fill('plans.yaml');
    await c.page.getByLabel('YAML').fill('plans:\n  free: [1, 2\n');
    await c.page.getByRole('button', { name: 'Check' }).press('Enter');
    await c.page.getByText(/^Not valid:/).waitFor();
    expect(await c.page.locator('.alert li code').first().textContent()).toMatch(/^plans\.yaml:\d+:\d+$/);

    // Pro no longer removes the branding: Globex (pro) would lose it.
    const { readFile } = await import('node:fs/promises');
    const current = await readFile(join(c.t.app.entitle.config.policyDirectory, 'plans.yaml'), 'utf8');
    const changed = current.replace('      can_remove_branding: true\n', '');
    expect(changed).not.toBe(current);
    await c.page.getByLabel('YAML').fill(changed);
    await c.page.getByRole('button', { name: 'Check' }).press('Enter');
    await c.page.getByText(/^Valid: version /).waitFor();
    expect(await c.page.locator('.ok li').allTextContents()).toContain('revokes can_remove_branding from 1 tenant');
    expect(await seriousViolations(c.page)).toEqual([]);
  }, 60_000);

  it('keeps the session in an HttpOnly, SameSite=Strict cookie under a CSP without unsafe-inline, and signs out', async () => {
    const c = await startConsole();
    const response = await c.page.goto(`${c.origin}/console`);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    await signInWithKeyboard(c);
    const [cookie] = await c.page.context().cookies();
    expect(cookie).toMatchObject({ name: 'entitle_session', httpOnly: true, sameSite: 'Strict', secure: false });
    expect(await c.page.evaluate(() => document.cookie)).toBe('');

    await c.page.getByRole('button', { name: 'Sign out' }).press('Enter');
    await c.page.getByText('You are signed out.').waitFor();
    // The old cookie value no longer opens anything.
    const replay = await c.t.app.inject({
      method: 'GET',
      url: '/api/admin/tenants',
      headers: { cookie: `entitle_session=${cookie?.value}` },
    });
    expect(replay.statusCode).toBe(401);
    expect(c.cspErrors).toEqual([]);
  }, 60_000);
});
