// entitle webhooks: the admin API's endpoint management from the command line, and CLI writes
// recording their events in the outbox as the server's writes do.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../support/cli.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';
import { testDatabase, type TestDatabase } from '../support/store.js';
import { readPolicyDirectory } from '../../src/policy/read-policy.js';
import { webhookDescriber } from '../../src/webhooks/webhook-events.js';

describe('entitle webhooks', () => {
  let env: Record<string, string>;
  let cwd: string;
  let database: TestDatabase;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'entitle-cli-'));
    database = testDatabase(join(cwd, 'data', 'entitle.db'));
    env = {
      ...database.env,
      ENTITLE_DB: join(cwd, 'data', 'entitle.db'),
      ENTITLE_POLICIES: STARTER_POLICY_DIR,
    } as Record<string, string>;
    await cli('tenants', 'create', 'acme', '--plan', 'free');
  });
  afterEach(() => database.drop());

  const cli = (...args: string[]) => runCliCaptured(args, { env, cwd });

  it('adds an endpoint printing its secret once, lists, rotates and removes it', async () => {
    const added = await cli('webhooks', 'add', '--url', 'https://receiver.test/hooks', '--events', 'tenant.created');
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^whsec_\S+\n$/);
    const id = /endpoint (ep_\S+)/.exec(added.stderr)?.[1] as string;
    const listed = await cli('webhooks', 'list', '--json');
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ id, url: 'https://receiver.test/hooks', events: ['tenant.created'] }),
    ]);
    expect(listed.stdout).not.toContain(added.stdout.trim());
    const rotated = await cli('webhooks', 'rotate', id);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout.trim()).not.toBe(added.stdout.trim());
    expect((await cli('webhooks', 'remove', id)).code).toBe(0);
    expect(JSON.parse((await cli('webhooks', 'list', '--json')).stdout)).toEqual([]);
  });

  it('refuses a loopback or metadata URL, naming the field', async () => {
    for (const url of ['https://127.0.0.1/hooks', 'http://169.254.169.254/latest/meta-data/']) {
      const refused = await cli('webhooks', 'add', '--url', url, '--events', 'tenant.created');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('url: must');
    }
  });

  it("leaves a CLI write's event in its audit row for the server's worker, then lists its attempts and replays it", async () => {
    const added = await cli('webhooks', 'add', '--url', 'https://receiver.test/', '--events', 'entitlements.changed');
    const id = /endpoint (ep_\S+)/.exec(added.stderr)?.[1] as string;
    expect(
      (
        await cli(
          'overrides',
          'set',
          '--tenant',
          'acme',
          '--feature',
          'can_use_sso',
          '--value',
          'true',
          '--reason',
          'pilot',
        )
      ).code,
    ).toBe(0);
    const deliveries = async () => JSON.parse((await cli('webhooks', 'deliveries', id, '--json')).stdout);
    expect((await deliveries()).items).toEqual([]);
    // The server's worker reads the audit log (here a store opened as the server opens it).
    const server = await database.open();
    const read = await readPolicyDirectory(STARTER_POLICY_DIR);
    if (!read.ok) throw new Error('the starter policy does not read');
    server.outbox.describeWith(webhookDescriber({ policy: () => read.snapshot }));
    expect((await server.outbox.fanOut()).events).toBe(1);
    const [claimed] = await server.outbox.claim('test', 1, 60_000);
    const at = new Date().toISOString();
    if (claimed)
      await server.outbox.complete(
        'test',
        claimed,
        { at, status: 503, error: 'HTTP 503', latencyMs: 12, outcome: 'retry', nextAttemptAt: at },
        5,
      );
    await server.close();
    const log = await deliveries();
    expect(log.items).toEqual([
      expect.objectContaining({ type: 'entitlements.changed', tenantId: 'acme', status: 'pending', attempts: 1 }),
    ]);
    const attempts = await cli('webhooks', 'deliveries', id, '--attempts', log.items[0].id);
    expect(attempts.stdout).toMatch(/retry\s+503\s+HTTP 503\s+12 ms/);
    const replayed = await cli('webhooks', 'replay', id, '--delivery', log.items[0].id);
    expect(replayed.stdout).toContain('1 deliveries queued again');
  });
});
