// entitle webhooks: the admin API's endpoint management from the command line, and CLI writes
// recording their events in the outbox as the server's writes do.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../support/cli.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';
import { testDatabase, type TestDatabase } from '../support/store.js';

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
    const added = await cli('webhooks', 'add', '--url', 'https://93.184.215.14/hooks', '--events', 'tenant.created');
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^whsec_\S+\n$/);
    const id = /endpoint (ep_\S+)/.exec(added.stderr)?.[1] as string;
    const listed = await cli('webhooks', 'list', '--json');
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ id, url: 'https://93.184.215.14/hooks', events: ['tenant.created'] }),
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

  it('records the events of CLI writes for the server to send, and replays them', async () => {
    const added = await cli('webhooks', 'add', '--url', 'https://93.184.215.14/', '--events', 'entitlements.changed');
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
    const log = JSON.parse((await cli('webhooks', 'deliveries', id, '--json')).stdout);
    expect(log.items).toEqual([
      expect.objectContaining({ type: 'entitlements.changed', tenantId: 'acme', status: 'pending', attempts: 0 }),
    ]);
    const replayed = await cli('webhooks', 'replay', id, '--delivery', log.items[0].id);
    expect(replayed.stdout).toContain('1 deliveries queued again');
  });
});
