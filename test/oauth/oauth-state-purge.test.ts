// Expired OAuth states do not pile up: the server registers their purge as a maintenance task,
// which its timer runs and every initiation nudges when overdue. On both stores.

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { expect, it } from 'vitest';
import { STATE_TTL_MS } from '../../src/oauth/oauth-state.js';
import { useCalendarApps } from '../support/calendar.js';

const apps = useCalendarApps();

it('registers the purge of expired OAuth states with the server', async () => {
  const t = await apps.build();
  expect(t.app.entitle.maintenance.tasks).toContain('oauth-states');
});

it('removes expired states when an initiation finds the purge overdue', async () => {
  let now = Date.parse('2026-11-25T10:00:00Z');
  const t = await apps.build({ clock: () => now });
  const headers = t.auth(await t.token('acme', 'alice', { plan: 'pro' }));
  const initiate = () =>
    t.app.inject({ method: 'POST', url: '/api/oauth/google/initiate/', headers, payload: { purpose: 'login' } });
  const abandoned = (await initiate()).json().state as string;
  // The first initiation's purge (nothing expired yet) is over before time moves.
  await t.app.entitle.maintenance.nudge('oauth-states');
  now += STATE_TTL_MS + 1;
  const purged = once(t.app.entitle.maintenance, 'ran');
  const fresh = (await initiate()).json().state as string;
  expect(await purged).toEqual(['oauth-states', 1]);
  // The abandoned state is gone (not merely expired); the fresh one is still there.
  const late = await t.app.inject({
    method: 'POST',
    url: '/api/oauth/google/callback/',
    headers,
    payload: { code: 'x', state: abandoned },
  });
  expect(late.json()).toMatchObject({
    code: 'ENT_ERR_OAUTH_STATE',
    error: 'state: unknown or already used; start the connection again',
  });
  expect(await t.app.entitle.store.oauthStates.purgeExpired(new Date(now).toISOString())).toBe(0);
  expect(await t.app.entitle.store.oauthStates.consume(hash(fresh))).toBeDefined();
});

function hash(state: string): string {
  return createHash('sha256').update(state).digest('hex');
}
