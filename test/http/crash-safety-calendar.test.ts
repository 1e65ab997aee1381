// Crash safety of the OAuth callback and calendar sync: the real server in a child process,
// the fake Google, SIGKILL at a random moment during callbacks and during long syncs. After each
// restart a connection is either stored whole (tokens and all) or not at all, a calendar's
// busy blocks always match its stored sync state, a later sync converges on the provider's
// events, and the audit chain verifies.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainVerifier } from '../../src/audit/audit-chain.js';
import { openStore } from '../../src/store/open-store.js';
import { startFakeGoogle } from '../fakes/google-fake.js';
import type { FakeProvider } from '../fakes/fake-provider.js';
import { startChildServer, type ChildServer } from '../support/child-server.js';
import { RELIABILITY } from '../support/runs.js';

let google: FakeProvider;
beforeAll(async () => {
  google = await startFakeGoogle();
});
afterAll(() => google.close());

const CYCLES = RELIABILITY ? 8 : 2;

describe('crash safety of OAuth callbacks and calendar sync', () => {
  it(
    `survives ${CYCLES} SIGKILLs during callbacks and ${CYCLES} during syncs`,
    { timeout: RELIABILITY ? 600_000 : 120_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'entitle-crash-cal-'));
      const env = { ...google.env, ENTITLE_DB: join(dir, 'entitle.db') };
      let server: ChildServer = await startChildServer(env);
      const admin = server.adminToken as string;
      const user = server.userToken as string;
      const call = (path: string, init: { method?: string; token?: string; body?: unknown } = {}) =>
        fetch(`${server.url}${path}`, {
          method: init.method ?? 'GET',
          headers: {
            authorization: `Bearer ${init.token ?? user}`,
            ...(init.body ? { 'content-type': 'application/json' } : {}),
          },
          ...(init.body ? { body: JSON.stringify(init.body) } : {}),
        });
      for (const [feature, value] of [
        ['can_use_calendar_sync', true],
        ['max_connected_calendars', 50],
      ] as const) {
        expect(
          (
            await call(`/api/admin/tenants/demo/overrides/${feature}`, {
              method: 'PUT',
              token: admin,
              body: { value, reason: 'crash test' },
            })
          ).ok,
        ).toBe(true);
      }
      const restart = async () => {
        await server.kill('SIGKILL');
        server = await startChildServer(env);
      };

      // Callbacks killed mid-flight.
      let acknowledged = 0;
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const callbacks = await Promise.all(
          Array.from({ length: 4 }, async (_, i) => {
            const initiated = (await (
              await call('/api/oauth/google/initiate/', { method: 'POST', body: { purpose: 'calendar' } })
            ).json()) as { authorizationUrl: string };
            return google.authorize(initiated.authorizationUrl, { email: `crash-${cycle}-${i}@example.com` });
          }),
        );
        const pending = callbacks.map((body) =>
          call('/api/oauth/google/callback/', { method: 'POST', body }).then(
            (r) => (r.ok ? acknowledged++ : undefined),
            () => undefined,
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 200)));
        await restart();
        await Promise.all(pending);
      }

      // Syncs killed mid-flight: a calendar long enough to take many pages, on a connection made cleanly.
      const initiated = (await (
        await call('/api/oauth/google/initiate/', { method: 'POST', body: { purpose: 'calendar' } })
      ).json()) as { authorizationUrl: string };
      const clean = await call('/api/oauth/google/callback/', {
        method: 'POST',
        body: google.authorize(initiated.authorizationUrl, { email: 'sync-target@example.com' }),
      });
      expect(clean.status, await clean.clone().text()).toBe(201);
      acknowledged++;
      const listed = (await (await call('/api/calendar/list/')).json()) as {
        connections: { id: string; accountEmail: string; calendars: { id: string; primary: boolean }[] }[];
      };
      const target = listed.connections.find((c) => c.accountEmail === 'sync-target@example.com');
      expect(target).toBeDefined();
      const calendarId = target?.calendars.find((c) => c.primary)?.id as string;
      for (let i = 0; i < 300; i++)
        google.putEvent(target?.accountEmail as string, calendarId, {
          id: `ev${i}`,
          start: `2026-12-01T${String(i % 24).padStart(2, '0')}:00:00Z`,
          end: `2026-12-01T${String(i % 24).padStart(2, '0')}:30:00Z`,
        });
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        google.putEvent(target?.accountEmail as string, calendarId, {
          id: `late${cycle}`,
          start: '2026-12-02T09:00:00Z',
          end: '2026-12-02T10:00:00Z',
        });
        const sync = call('/api/calendar/sync/', { method: 'POST', body: { connectionId: target?.id } }).catch(
          () => undefined,
        );
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.floor(Math.random() * 150)));
        await restart();
        await sync;
      }
      // One sync to completion: it converges on the provider's events.
      const done = await call('/api/calendar/sync/', { method: 'POST', body: { connectionId: target?.id } });
      expect(done.status, await done.clone().text()).toBe(200);
      await server.kill('SIGKILL');

      const store = await openStore({
        databasePath: env.ENTITLE_DB,
        databaseUrl: undefined,
        databaseSchema: undefined,
      });
      try {
        const verifier = new ChainVerifier();
        await store.audit.scan((record) => verifier.visit(record));
        expect(verifier.result).toMatchObject({ ok: true });
        const connections = await store.connections.list('demo');
        for (const connection of connections) {
          const tokens = await store.connections.tokens('demo', connection.id);
          // Whole or nothing: a valid connection always has its tokens.
          if (connection.status === 'valid') expect(tokens?.accessToken).toMatch(/^v1\./);
        }
        expect(connections.filter((c) => c.status === 'valid').length).toBeGreaterThanOrEqual(acknowledged);
        const blocks = await store.connections.busyBlocks('demo', target?.id as string);
        expect(blocks.map((b) => b.eventId).sort()).toEqual(
          [
            ...Array.from({ length: 300 }, (_, i) => `ev${i}`),
            ...Array.from({ length: CYCLES }, (_, i) => `late${i}`),
          ].sort(),
        );
        console.info(
          `crash safety (calendar): ${CYCLES} kills during callbacks (${acknowledged} acknowledged, ${connections.length} stored, none partial), ${CYCLES} kills during syncs, final sync converged on ${blocks.length} events`,
        );
      } finally {
        await store.close();
      }
    },
  );
});
