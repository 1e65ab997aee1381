// ENTITLE_AUDIT_READS: all (denials and sensitive reads), denials, or off; writes keep their
// rows whatever the choice.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCalendarApp, connectCalendar, startFakes, type Fakes } from '../support/calendar.js';

describe('ENTITLE_AUDIT_READS', () => {
  let fakes: Fakes;
  beforeAll(async () => {
    fakes = await startFakes();
  });
  afterAll(() => fakes.close());

  /** The audit actions a calendar list (allowed) and a denial leave with the given setting. */
  async function actionsWith(mode: string | undefined): Promise<string[]> {
    const t = await buildCalendarApp(fakes, { env: mode ? { ENTITLE_AUDIT_READS: mode } : {} });
    try {
      const pro = await t.token('acme', 'alice', { plan: 'pro' });
      const free = await t.token('globex', 'bob', { plan: 'free' });
      await connectCalendar(t, fakes.google, pro);
      const before = (await t.app.entitle.store.audit.list({ limit: 1000 })).items.length;
      expect((await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(pro) })).statusCode).toBe(
        200,
      );
      expect(
        (await t.app.inject({ method: 'GET', url: '/api/calendar/list/', headers: t.auth(free) })).statusCode,
      ).toBe(403);
      const after = (await t.app.entitle.store.audit.list({ limit: 1000 })).items;
      // The connection's own write (oauth.callback) is audited with its write, in every mode.
      expect(after.some((row) => row.action === 'connection.create' || row.action.startsWith('oauth.'))).toBe(true);
      return after
        .slice(0, after.length - before)
        .map((row) => row.action)
        .reverse();
    } finally {
      await t.close();
    }
  }

  it('audits successful calendar lists and denials by default (all)', async () => {
    expect(await actionsWith(undefined)).toEqual(['calendar.list', 'gate.denied']);
  });

  it('audits only denials with denials', async () => {
    expect(await actionsWith('denials')).toEqual(['gate.denied']);
  });

  it('audits neither with off', async () => {
    expect(await actionsWith('off')).toEqual([]);
  });
});
