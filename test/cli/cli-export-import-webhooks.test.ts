// entitle export / import with webhooks: endpoints (secrets still sealed, opened by the same
// keys in the new store), events, sequences and deliveries move, a pending delivery arrives
// pending and unclaimed; a secret the target's keys cannot open, or a delivery of an event that
// is not in the dump, is refused by table, row and field, and nothing is imported.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Env } from '../../src/config.js';
import { generateKeyEntry, openTokenCipher } from '../../src/secrets/encryption-keys.js';
import { openStore } from '../../src/store/open-store.js';
import type { StoreDump } from '../../src/store/transfer.js';
import { openSigningSecret } from '../../src/webhooks/webhook-signing.js';
import { runCliCaptured } from '../support/cli.js';
import { importTargets } from '../support/import-targets.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';

const KEYS = generateKeyEntry('moved');

function cli(env: Env, cwd: string, ...args: string[]) {
  return runCliCaptured(args, {
    env: { ENTITLE_POLICIES: STARTER_POLICY_DIR, ENTITLE_SEED_DEMO: 'false', ENTITLE_ENCRYPTION_KEYS: KEYS, ...env },
    cwd,
  });
}

const targets = importTargets();

/** A SQLite deployment with an endpoint and the pending deliveries of two overrides. */
async function sourceDeployment() {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-export-'));
  const env = { ENTITLE_DB: join(dir, 'entitle.db'), DATABASE_URL: '', ENTITLE_WEBHOOKS_ALLOW_PRIVATE: 'true' };
  const ok = async (...args: string[]) => {
    const result = await cli(env, dir, ...args);
    expect(result.code, result.stderr).toBe(0);
    return result;
  };
  await ok('tenants', 'create', 'acme', '--plan', 'free');
  const added = JSON.parse(
    (await ok('webhooks', 'add', '--url', 'https://127.0.0.1:9/hook', '--events', 'entitlements.changed', '--json'))
      .stdout,
  ) as { endpoint: { id: string }; secret: string };
  for (const value of ['true', 'false'])
    await ok('overrides', 'set', '--tenant', 'acme', '--feature', 'can_use_sso', '--value', value, '--reason', 'pilot');
  await ok('export', '--out', 'dump.json');
  const dump = JSON.parse(readFileSync(join(dir, 'dump.json'), 'utf8')) as StoreDump;
  return { dir, dump, endpointId: added.endpoint.id, secret: added.secret };
}

describe.each(targets)('moving a deployment with webhooks to $name', ({ env: targetEnv, cleanup }) => {
  it(
    'carries endpoints with their sealed secrets, events, sequences and pending deliveries',
    { timeout: 60_000 },
    async () => {
      const { dir, dump, endpointId, secret } = await sourceDeployment();
      expect({
        endpoints: dump.tables.webhook_endpoints.length,
        events: dump.tables.webhook_events.length,
        sequences: dump.tables.webhook_sequences,
        deliveries: dump.tables.webhook_deliveries.map((row) => row.status),
      }).toEqual({
        endpoints: 1,
        events: 2,
        sequences: [{ tenant_id: 'acme', sequence: 2 }],
        deliveries: ['pending', 'pending'],
      });
      expect(JSON.stringify(dump)).not.toContain(secret);

      const target = targetEnv();
      try {
        const imported = await cli(target, dir, 'import', 'dump.json');
        expect(imported.code, imported.stderr).toBe(0);
        expect(imported.stdout).toContain(
          '1 webhook endpoints, 2 webhook events, 1 webhook sequences, 2 webhook deliveries',
        );
        const again = JSON.parse((await cli(target, dir, 'export')).stdout) as StoreDump;
        expect({ ...again.tables, audit_log: again.tables.audit_log.slice(0, -1) }).toEqual(dump.tables);

        const config = loadConfig({ ...target, ENTITLE_ENCRYPTION_KEYS: KEYS }, dir, { purpose: 'cli' });
        const store = await openStore(config);
        try {
          // The new deployment's worker claims the pending deliveries and opens the secret with the same keys.
          const claimed = await store.outbox.claim('new-instance', 10, 15_000);
          expect(claimed.map((delivery) => delivery.endpoint.id)).toEqual([endpointId, endpointId]);
          const cipher = openTokenCipher(config.encryption, config.databasePath);
          expect(openSigningSecret(cipher, endpointId, claimed[0]?.endpoint.secret as string)).toBe(secret);
        } finally {
          await store.close();
        }
      } finally {
        await cleanup?.(target);
      }
    },
  );

  it(
    "refuses secrets the target's keys cannot open, a delivery of an event not in the dump and rows the outbox would not write, naming table, row and field, importing nothing",
    { timeout: 60_000 },
    async () => {
      const { dir, dump } = await sourceDeployment();
      const target = targetEnv();
      try {
        const otherKeys = await cli(
          { ...target, ENTITLE_ENCRYPTION_KEYS: generateKeyEntry('other') },
          dir,
          'import',
          'dump.json',
        );
        expect(otherKeys.code).not.toBe(0);
        expect(otherKeys.stderr).toMatch(
          /^error: webhook_endpoints\[0\]\.secret: does not open with this deployment's encryption keys .*; nothing was imported/,
        );

        const [first, ...rest] = dump.tables.webhook_deliveries;
        const orphan = {
          ...dump,
          tables: { ...dump.tables, webhook_deliveries: [...rest, { ...first, event_id: 'msg_ghost' }] },
        };
        writeFileSync(join(dir, 'orphan.json'), JSON.stringify(orphan));
        const failed = await cli(target, dir, 'import', 'orphan.json');
        expect(failed.code).not.toBe(0);
        expect(failed.stderr).toMatch(
          /^error: webhook_deliveries\[1\]\.event_id: "msg_ghost" is not an event of the dump; nothing was imported/,
        );
        const withRow = (table: keyof StoreDump['tables'], changes: Record<string, unknown>) => ({
          ...dump,
          tables: {
            ...dump.tables,
            [table]: dump.tables[table].map((row, i) => (i === 0 ? { ...row, ...changes } : row)),
          },
        });
        const cases: [string, unknown, RegExp][] = [
          [
            'url',
            withRow('webhook_endpoints', { url: 'ftp://example.test/' }),
            /^error: webhook_endpoints\[0\]\.url: must be an https/,
          ],
          [
            'types',
            withRow('webhook_endpoints', { events: '["entitlements.changed","tenant.renamed"]' }),
            /^error: webhook_endpoints\[0\]\.events: "tenant\.renamed" is not an event type/,
          ],
          [
            'body',
            withRow('webhook_events', { tenant_id: 'globex' }),
            /^error: webhook_events\[0\]\.payload: must be the event's body/,
          ],
          [
            'sequence',
            withRow('webhook_sequences', { sequence: 1 }),
            /^error: webhook_sequences\[0\]\.sequence: below the tenant's last event \(2\)/,
          ],
          [
            'status',
            withRow('webhook_deliveries', { status: 'lost' }),
            /^error: webhook_deliveries\[0\]\.status: must be one of pending, delivered, failed/,
          ],
        ];
        for (const [name, bad, message] of cases) {
          writeFileSync(join(dir, `${name}.json`), JSON.stringify(bad));
          const refused = await cli(target, dir, 'import', `${name}.json`);
          expect(refused.code, name).not.toBe(0);
          expect(refused.stderr, name).toMatch(message);
          expect(refused.stderr, name).toMatch(/nothing was imported/);
        }
        const empty = JSON.parse((await cli(target, dir, 'export')).stdout) as StoreDump;
        expect(Object.values(empty.tables).every((rows) => rows.length === 0)).toBe(true);
      } finally {
        await cleanup?.(target);
      }
    },
  );
});
