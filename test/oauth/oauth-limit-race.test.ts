// Two connections racing for the last place under max_connected_calendars: both initiations
// pass (nothing is connected yet), the first callback takes the place, and the second's
// authorization code, already exchanged, is revoked at the provider rather than left live.

import { expect, it } from 'vitest';
import { useCalendarApps } from '../support/calendar.js';

const apps = useCalendarApps();

it('revokes the grant of a callback refused because the limit was reached meanwhile', async () => {
  const t = await apps.build();
  const token = await t.token('acme', 'alice', { plan: 'pro' });
  await t.app.entitle.operations.setOverride(
    { tenantId: 'acme', feature: 'max_connected_calendars', value: 1, reason: 'race' },
    { actor: 'test' },
  );
  const google = apps.fakes.google;
  const initiate = async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/oauth/google/initiate/',
      headers: t.auth(token),
      payload: { purpose: 'calendar' },
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json().authorizationUrl as string;
  };
  const [first, second] = [
    google.authorize(await initiate(), { email: 'race-1@example.com' }),
    google.authorize(await initiate(), { email: 'race-2@example.com' }),
  ];
  const callback = (grant: { code: string; state: string }) =>
    t.app.inject({ method: 'POST', url: '/api/oauth/google/callback/', headers: t.auth(token), payload: grant });
  expect((await callback(first)).statusCode).toBe(201);
  const revokedBefore = google.revokedTokens.length;
  const refused = await callback(second);
  expect(refused.statusCode).toBe(403);
  expect(refused.json()).toMatchObject({ code: 'ENT_ERR_LIMIT_REACHED', limit: 1, current: 1 });
  expect(google.revokedTokens.length).toBe(revokedBefore + 1);
  const audit = await t.app.entitle.store.audit.list({ tenantId: 'acme', action: 'oauth.callback' });
  expect(audit.items[0]).toMatchObject({
    outcome: 'denied',
    details: { reason: 'limit reached; the grant was revoked at the provider' },
  });
});
