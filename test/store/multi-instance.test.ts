// Several instances, one PostgreSQL database: writes through one instance (overrides set and
// cleared, plan changes, a tenant deleted), reads through the others while they are under
// concurrent load. Reads go the way apps read: a gated route (/api/calendar/list/, gated by
// can_use_calendar_sync: the gate's decision cache) and OFREP bulk evaluation with
// If-None-Match (its ETag: a 304 must never confirm a decision that changed). Every write is
// visible everywhere within one second, no decision is stale after that bound, and no
// acknowledged write is lost.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyEntry } from '../../src/secrets/encryption-keys.js';
import { NO_RATE_LIMITS } from '../support/app.js';
import { startChildServer, type ChildServer } from '../support/child-server.js';
import { SEED } from '../support/differential.js';
import { RELIABILITY } from '../support/runs.js';

const URL = process.env.DATABASE_URL;
const schema = `entitle_multi_${randomBytes(6).toString('hex')}`;
const FEATURE = 'can_use_calendar_sync';
const BOUND_MS = 1_000;

/** One instance as an app sees it: the gated route and OFREP bulk, with the ETag it was last given. */
class Reader {
  #etag: string | undefined;
  #value: boolean | undefined;

  constructor(readonly server: ChildServer) {}

  /** 200 → true, 403 → false, 401 → 'unauthenticated'. */
  async gated(token: string): Promise<boolean | 'unauthenticated'> {
    const response = await fetch(`${this.server.url}/api/calendar/list/`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await response.arrayBuffer();
    if (response.status === 200 || response.status === 403) return response.status === 200;
    if (response.status === 401) return 'unauthenticated';
    throw new Error(`gated read: ${response.status}`);
  }

  /** The feature through OFREP bulk; a 304 answers with the value of the answer it confirms. */
  async ofrep(token: string, tenantId?: string): Promise<boolean> {
    const response = await fetch(`${this.server.url}/ofrep/v1/evaluate/flags`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        ...(this.#etag && !tenantId ? { 'if-none-match': this.#etag } : {}),
      },
      body: JSON.stringify({ context: tenantId ? { tenantId } : {} }),
    });
    if (response.status === 304) return this.#value as boolean;
    if (response.status !== 200) throw new Error(`OFREP: ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { flags: { key: string; value: boolean }[] };
    const value = body.flags.find((flag) => flag.key === FEATURE)?.value as boolean;
    if (!tenantId) {
      this.#etag = response.headers.get('etag') ?? undefined;
      this.#value = value;
    }
    return value;
  }
}

async function api(server: ChildServer, token: string, method: string, path: string, body?: object): Promise<Response> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

/** Polls until `check` holds or the bound passes; returns how long it took, or undefined (stale). */
async function within(check: () => Promise<boolean>, bound = BOUND_MS): Promise<number | undefined> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > bound) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe.skipIf(!URL)('several instances on one PostgreSQL database', () => {
  const servers: ChildServer[] = [];
  beforeAll(async () => {
    // One key for all (each instance decrypts what another stored); nothing in the repository's data/.
    // A propagation test under load, not a limit test: the per-principal limits are lifted.
    const env = {
      DATABASE_URL: URL as string,
      DATABASE_SCHEMA: schema,
      ENTITLE_ENCRYPTION_KEYS: generateKeyEntry('multi'),
      ENTITLE_DB: join(mkdtempSync(join(tmpdir(), 'entitle-multi-')), 'unused.db'),
      ...NO_RATE_LIMITS,
    };
    // The first start seeds the demo tenant; the others find it there.
    servers.push(await startChildServer(env));
    servers.push(...(await Promise.all([startChildServer(env), startChildServer(env)])));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.kill('SIGTERM')));
    const client = new pg.Client({ connectionString: URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it(
    'every write through one instance reaches the others within a second, under concurrent load',
    { timeout: 300_000 },
    async () => {
      const [writer, ...others] = servers as [ChildServer, ...ChildServer[]];
      const admin = writer.adminToken as string;
      const user = writer.userToken as string;
      expect(admin).toMatch(/^ent_/);
      const readers = others.map((server) => new Reader(server));
      const self = new Reader(writer);

      // Background load on the readers: several loops each, gated reads and OFREP, as fast as they come back.
      let loading = true;
      let loadRequests = 0;
      let loadFailures = 0;
      const loops = readers.flatMap((reader) =>
        Array.from({ length: 4 }, async (_, n) => {
          const background = new Reader(reader.server);
          while (loading) {
            try {
              await (n % 2 === 0 ? background.gated(user) : background.ofrep(user));
              loadRequests++;
            } catch {
              loadFailures++;
            }
          }
        }),
      );

      // A seeded random walk of writes: override on, off or cleared, plan up or down.
      const writes = RELIABILITY ? 200 : 30;
      const steps = fc.sample(fc.constantFrom('override-on', 'override-off', 'override-clear', 'plan-toggle'), {
        numRuns: writes,
        seed: SEED,
      });
      const state: { plan: 'free' | 'pro'; override: boolean | undefined } = { plan: 'free', override: undefined };
      const counts: Record<string, number> = {};
      const delays: number[] = [];
      let stale = 0;
      const agree = async (reader: Reader, expected: boolean) =>
        (await reader.gated(user)) === expected && (await reader.ofrep(user)) === expected;
      for (const step of steps) {
        const path = `/api/admin/tenants/demo/overrides/${FEATURE}`;
        if (step === 'plan-toggle') {
          state.plan = state.plan === 'free' ? 'pro' : 'free';
          await api(writer, admin, 'PATCH', '/api/admin/tenants/demo', { plan: state.plan });
        } else if (step === 'override-clear' && state.override !== undefined) {
          state.override = undefined;
          await api(writer, admin, 'DELETE', `${path}?reason=multi-instance`);
        } else {
          state.override = step !== 'override-off';
          await api(writer, admin, 'PUT', path, { value: state.override, reason: `step ${delays.length}` });
        }
        counts[step] = (counts[step] ?? 0) + 1;
        const expected = state.override ?? state.plan === 'pro';
        // The writer itself: at once.
        expect(await agree(self, expected)).toBe(true);
        for (const reader of readers) {
          const delay = await within(() => agree(reader, expected));
          if (delay === undefined) stale++;
          else delays.push(delay);
        }
      }

      // A tenant deleted through the writer: within the bound its token stops working everywhere
      // and its decisions are an unknown tenant's.
      await api(writer, admin, 'POST', '/api/admin/tenants', { id: 'short-lived', plan: 'pro' });
      const doomed = (
        (await (
          await api(writer, admin, 'POST', '/api/admin/tokens', { tenantId: 'short-lived', userId: 'dora' })
        ).json()) as { token: string }
      ).token;
      for (const reader of readers)
        expect(await within(async () => (await reader.gated(doomed)) === true)).toBeDefined();
      await api(writer, admin, 'DELETE', '/api/admin/tenants/short-lived');
      const deletion: (number | undefined)[] = [];
      for (const reader of readers)
        deletion.push(
          await within(
            async () =>
              (await reader.gated(doomed)) === 'unauthenticated' &&
              (await reader.ofrep(admin, 'short-lived')) === false,
          ),
        );

      loading = false;
      await Promise.all(loops);
      delays.sort((a, b) => a - b);
      const p50 = delays[Math.floor(delays.length / 2)] ?? 0;
      const max = delays.at(-1) ?? 0;
      console.info(
        `multi-instance: 3 instances, ${writes} writes (${Object.entries(counts)
          .map(([kind, n]) => `${n} ${kind}`)
          .join(', ')}) + a tenant deletion, ` +
          `${loadRequests} concurrent background reads (${loadFailures} failed), propagation p50 ${p50} ms, max ${max} ms, ${stale} stale after 1 s; deletion seen in ${deletion.join('/')} ms`,
      );
      expect(stale).toBe(0);
      expect(max).toBeLessThan(BOUND_MS);
      expect(deletion.every((ms) => ms !== undefined)).toBe(true);
      expect(loadFailures).toBe(0);
      expect(loadRequests).toBeGreaterThan(writes);

      // No acknowledged write lost: the audit log, read through another instance, has every one.
      const audit = async (action: string) =>
        (
          (await (
            await api(others[0] as ChildServer, admin, 'GET', `/api/admin/audit?tenant=demo&action=${action}&limit=500`)
          ).json()) as { items: unknown[] }
        ).items.length;
      expect({
        overrides: (await audit('override.set')) + (await audit('override.clear')),
        plans: await audit('tenant.plan.change'),
      }).toEqual({
        overrides: writes - (counts['plan-toggle'] ?? 0),
        plans: counts['plan-toggle'] ?? 0,
      });
    },
  );
});
