// A browser app on another origin than the API — the real @openfeature/web-sdk with
// @openfeature/ofrep-web-provider, polling every five minutes — sees a feature turn on within
// a second of an operator's override, through the OFREP event stream, and its provider emits
// ConfigurationChanged. The same page from an origin off the allow-list is refused by CORS.

/// <reference lib="dom" />
import { createServer, type Server } from 'node:http';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';
import { HAS_CHROMIUM, launchBrowser } from '../support/browser.js';

const FEATURE = 'can_use_sso';
let browser: Browser;
let bundle: string;
const servers: Server[] = [];

/** A second origin: serves the app page and its bundle, nothing else. */
async function appOrigin(): Promise<string> {
  const server = createServer((request, response) => {
    if (request.url === '/app.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else
      response
        .writeHead(200, { 'content-type': 'text/html' })
        .end(
          '<!doctype html><html lang="en"><title>App</title><p>SSO: <output id="value">loading</output></p><script src="/app.js"></script></html>',
        );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  const result = await build({
    entryPoints: [new URL('../fixtures/ofrep-web-app/app.ts', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    target: 'es2022',
    write: false,
    logLevel: 'warning',
  });
  bundle = result.outputFiles[0]?.text ?? '';
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  for (const server of servers) server.close();
});

interface Setup {
  readonly t: TestApp;
  readonly api: string;
  readonly token: string;
  readonly admin: string;
}

async function startApi(allowed: string): Promise<Setup> {
  const t = await buildTestApp({ env: { ENTITLE_CORS_ORIGINS: allowed } });
  const token = await t.token('acme', 'alice');
  const admin = await t.token('ops', 'olga', { role: 'admin' });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  return { t, token, admin, api: `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}` };
}

const recorded = (page: Page) =>
  page.evaluate(() => window.recorded as { type: string; flags?: string[]; message?: string; at: number }[]);

describe.skipIf(!HAS_CHROMIUM)(
  'a browser app on another origin, with the OpenFeature web SDK and the OFREP web provider',
  () => {
    it("sees an operator's override within a second, and its provider emits ConfigurationChanged", async () => {
      const origin = await appOrigin();
      const s = await startApi(origin);
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${origin}/`);
        await page.evaluate(
          ([api, token, feature]) => window.startApp(api as string, token as string, feature as string),
          [s.api, s.token, FEATURE],
        );
        expect(await page.textContent('#value')).toBe('false');
        await page.waitForFunction(() => window.recorded.some((event) => event.type === 'stream-open'));
        expect((await recorded(page)).map((event) => event.type).sort()).toEqual(['ready', 'stream-open']);

        const started = Date.now();
        const write = await s.t.app.inject({
          method: 'PUT',
          url: `/api/admin/tenants/acme/overrides/${FEATURE}`,
          headers: s.t.auth(s.admin),
          payload: { value: true, reason: 'pilot' },
        });
        expect(write.statusCode).toBe(201);
        await page.waitForFunction(() => document.getElementById('value')?.textContent === 'true', undefined, {
          timeout: 1_000,
        });
        const elapsed = Date.now() - started;
        console.log(`override → browser app on another origin: ${elapsed} ms`);
        expect(elapsed).toBeLessThan(1_000);
        const changed = (await recorded(page)).filter((event) => event.type === 'configuration-changed');
        expect(changed).toEqual([expect.objectContaining({ flags: expect.arrayContaining([FEATURE]) })]);
      } finally {
        await context.close();
        await s.t.close();
      }
    }, 60_000);

    it('is refused from an origin off the allow-list: the provider cannot load, the feature stays at its default', async () => {
      const allowed = await appOrigin();
      const other = await appOrigin();
      const s = await startApi(allowed);
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const failed: string[] = [];
        page.on('requestfailed', (request) => failed.push(new URL(request.url()).pathname));
        await page.goto(`${other}/`);
        await page.evaluate(
          ([api, token, feature]) => window.startApp(api as string, token as string, feature as string),
          [s.api, s.token, FEATURE],
        );
        const events = await recorded(page);
        expect(events.map((event) => event.type)).toContain('error');
        expect(events.map((event) => event.type)).not.toContain('stream-open');
        expect(await page.textContent('#value')).toBe('false');
        expect(failed).toContain('/ofrep/v1/evaluate/flags');
        // The browser's own check: a direct call from this page fails as well.
        const direct = await page.evaluate(
          async ([api, token]) => {
            try {
              await fetch(`${api}/ofrep/v1/evaluate/flags`, {
                method: 'POST',
                headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
                body: '{}',
              });
              return 'allowed';
            } catch (error) {
              return String(error);
            }
          },
          [s.api, s.token],
        );
        expect(direct).toBe('TypeError: Failed to fetch');
      } finally {
        await context.close();
        await s.t.close();
      }
    }, 60_000);
  },
);
