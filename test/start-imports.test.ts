// Start fast: the server answers /healthz without having loaded the client libraries of the
// services it has not been configured for or not yet used (Stripe, Google, Microsoft Graph), nor
// Swagger UI (test/http/api-docs.test.ts asks for it);
// a configured provider's library is still loaded when it is first used
// (test/calendar, test/billing drive those paths).

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startChildServer, type ChildServer } from './support/child-server.js';

const LOADED_ON_FIRST_USE = [
  'stripe',
  '@googleapis/calendar',
  'google-auth-library',
  '@microsoft/microsoft-graph-client',
  '@fastify/swagger-ui',
];

describe('starting the server', () => {
  let child: ChildServer | undefined;
  afterEach(async () => {
    await child?.kill('SIGKILL');
    child = undefined;
  });

  it('answers /healthz on an empty store without loading Stripe, Google, Microsoft Graph or Swagger UI', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'entitle-imports-')), 'imports.txt');
    writeFileSync(file, '');
    child = await startChildServer({ ENTITLE_TEST_IMPORTS_FILE: file }, 60_000, ['test/support/record-imports.ts']);
    expect((await fetch(`${child.url}/healthz`)).status).toBe(200);
    const imported = new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean));
    // The recording works: what every start needs is there.
    expect(imported).toContain('fastify');
    expect(imported).toContain('better-sqlite3');
    expect(LOADED_ON_FIRST_USE.filter((name) => imported.has(name))).toEqual([]);
  });
});
