// The console in a real browser, for a test file: the console built once into a directory of its
// own and Chromium launched once (beforeAll), each test's app and browser context closed after it.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { buildConsole } from '../../scripts/build-console.mjs';
import type { TestApp } from './app.js';
import { HAS_CHROMIUM, launchBrowser } from './browser.js';

export interface ConsoleBrowser {
  /** The built console, for `buildTestApp({ consoleDirectory })`. */
  readonly directory: string;
  /** Listens `t` on a free loopback port and opens a page in a new context (closed with `t` after the test). */
  open(t: TestApp): Promise<{ readonly page: Page; readonly origin: string }>;
}

/** Registers the file's hooks; call at the top level of a test file. */
export function consoleBrowser(): ConsoleBrowser {
  let browser: Browser | undefined;
  let directory = '';
  const opened: { t: TestApp; context: BrowserContext }[] = [];
  beforeAll(async () => {
    if (!HAS_CHROMIUM) return;
    directory = await buildConsole(join(mkdtempSync(join(tmpdir(), 'entitle-console-')), 'console'));
    browser = await launchBrowser();
  }, 60_000);
  afterEach(async () => {
    for (const { t, context } of opened.splice(0)) {
      await context.close();
      await t.close();
    }
  });
  afterAll(async () => {
    await browser?.close();
  });
  return {
    get directory() {
      return directory;
    },
    async open(t) {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = t.app.server.address() as { port: number };
      const context = await (browser as Browser).newContext({ locale: 'en-US', timezoneId: 'UTC' });
      opened.push({ t, context });
      return { page: await context.newPage(), origin: `http://127.0.0.1:${port}` };
    },
  };
}
