// Crash safety: the real server in a child process takes concurrent override writes and is
// killed with SIGKILL at a random moment, several times. After each restart every write that was
// acknowledged (2xx) is there, nothing is half-applied (each override matches its latest audit
// row), and the audit chain still verifies.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChainVerifier } from '../../src/audit/audit-chain.js';
import { readPolicyDirectory } from '../../src/policy/read-policy.js';
import type { FeatureDefinition, FeatureValue } from '../../src/policy/types.js';
import { openStore } from '../../src/store/open-store.js';
import { NO_RATE_LIMITS } from '../support/app.js';
import { startChildServer } from '../support/child-server.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';
import { RELIABILITY } from '../support/runs.js';

const FEATURES = [
  'max_connected_calendars',
  'max_team_members',
  'max_booking_pages',
  'can_use_webhooks',
  'can_use_sms_reminders',
  'support_tier',
] as const;

// The child server runs the starter policy: every value written keeps that policy's bounds
// (a long run writes thousands of values, far past a bound such as 1,000 calendars).
const starter = await readPolicyDirectory(STARTER_POLICY_DIR);
if (!starter.ok) throw new Error('the starter policy is invalid');
const definitions = new Map(
  FEATURES.map((key) => [key, starter.snapshot.features.get(key) as FeatureDefinition] as const),
);

/** The n-th value written to a feature: cycles through what its definition allows. */
function valueFor(feature: (typeof FEATURES)[number], n: number): FeatureValue {
  const definition = definitions.get(feature);
  if (!definition) throw new Error(`the starter policy has no feature ${feature}`);
  if (definition.type === 'boolean') return n % 2 === 0;
  if (definition.type === 'string') {
    const values = definition.values ?? [String(definition.default)];
    return values[n % values.length] as string;
  }
  const minimum = definition.minimum ?? 0;
  const maximum = definition.maximum ?? Number.MAX_SAFE_INTEGER;
  return minimum + (n % (maximum - minimum + 1));
}

describe('crash safety', () => {
  it(
    `keeps every acknowledged write through ${RELIABILITY ? 12 : 2} SIGKILLs`,
    { timeout: RELIABILITY ? 600_000 : 90_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'entitle-crash-'));
      // A write load, not a rate-limit test: the admin limit is lifted for this run.
      const env = { ENTITLE_DB: join(dir, 'entitle.db'), ...NO_RATE_LIMITS };
      let server = await startChildServer(env);
      const admin = server.adminToken as string;
      expect(admin).toMatch(/^ent_/);
      const acknowledged = new Set<string>();
      let attempted = 0;
      let counter = 0;
      const cycles = RELIABILITY ? 12 : 2;

      for (let cycle = 0; cycle < cycles; cycle++) {
        if (cycle > 0) server = await startChildServer(env);
        let stop = false;
        // The kill comes while writes are being acknowledged: its delay starts at the first one
        // (a loaded machine may take longer than the delay to answer a fresh server's first request).
        let acknowledgedOne: () => void = () => undefined;
        const firstAcknowledged = new Promise<void>((resolve) => (acknowledgedOne = resolve));
        const writers = FEATURES.map(async (feature) => {
          while (!stop) {
            const n = ++counter;
            const reason = `write-${n}`;
            attempted++;
            try {
              const response = await fetch(`${server.url}/api/admin/tenants/demo/overrides/${feature}`, {
                method: 'PUT',
                headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
                body: JSON.stringify({ value: valueFor(feature, n), reason }),
              });
              if (response.ok) {
                acknowledged.add(reason);
                acknowledgedOne();
              } else if (response.status !== 503)
                throw new Error(
                  `unexpected ${response.status} for ${feature}=${JSON.stringify(valueFor(feature, n))}: ${await response.text()}`,
                );
            } catch (error) {
              // The connection died with the server: this write was never acknowledged.
              if (error instanceof Error && error.message.startsWith('unexpected')) throw error;
              return;
            }
          }
        });
        await firstAcknowledged;
        await new Promise((resolve) => setTimeout(resolve, 150 + Math.floor(Math.random() * 400)));
        await server.kill('SIGKILL');
        stop = true;
        await Promise.all(writers);
      }

      const store = await openStore({
        databasePath: env.ENTITLE_DB,
        databaseUrl: undefined,
        databaseSchema: undefined,
      });
      try {
        const verifier = new ChainVerifier();
        const reasons = new Set<string>();
        const latest = new Map<string, string>();
        await store.audit.scan((record) => {
          verifier.visit(record);
          if (record.action !== 'override.set') return;
          const after = (record.details as { after?: { reason?: string } } | undefined)?.after;
          const feature = record.target?.replace(/^feature:/, '');
          if (after?.reason) reasons.add(after.reason);
          if (feature && after?.reason) latest.set(feature, after.reason);
        });
        expect(verifier.result).toMatchObject({ ok: true });
        const lost = [...acknowledged].filter((reason) => !reasons.has(reason));
        expect(lost).toEqual([]);
        for (const override of await store.overrides.list({ tenantId: 'demo' }))
          expect(override.reason).toBe(latest.get(override.feature));
        expect(acknowledged.size).toBeGreaterThan(0);
        console.info(
          `crash safety: ${cycles} SIGKILLs, ${attempted} writes attempted, ${acknowledged.size} acknowledged, 0 lost`,
        );
      } finally {
        await store.close();
      }
    },
  );
});
