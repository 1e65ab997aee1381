// The outbox is the audit log: a write does nothing for webhooks beyond its audit row, and the
// delivery worker's fan-out turns audit rows into events, each change described as it was when
// made. Two stores on one database stand for two processes (two instances on PostgreSQL).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readPolicyDirectory } from '../../src/policy/read-policy.js';
import type { EntitleStore } from '../../src/store/store.js';
import { webhookDescriber } from '../../src/webhooks/webhook-events.js';
import { testDatabase, type TestDatabase } from '../support/store.js';

const admin = { actor: 'olivia' };

async function policy() {
  const read = await readPolicyDirectory(join(import.meta.dirname, '../../policies'));
  if (!read.ok) throw new Error('the shipped policy does not read');
  return read.snapshot;
}

interface Payload {
  readonly type: string;
  readonly data: {
    readonly tenantId: string;
    readonly sequence: number;
    readonly changes: readonly { feature: string; before: unknown; after: unknown }[];
    readonly cause: { kind: string };
  };
}

describe('webhook fan-out from the audit log', () => {
  let db: TestDatabase | undefined;
  const stores: EntitleStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await db?.drop();
    db = undefined;
  });

  /** Two stores on one database (two processes), each describing with the shipped policy. */
  async function twoProcesses() {
    db = testDatabase(join(mkdtempSync(join(tmpdir(), 'entitle-fanout-')), 'entitle.db'));
    const snapshot = await policy();
    const [a, b] = [await db.open(), await db.open()];
    for (const store of [a, b]) {
      store.outbox.describeWith(webhookDescriber({ policy: () => snapshot }));
      stores.push(store);
    }
    await a.tenants.create({ id: 'acme', name: 'Acme', plan: 'free' }, admin);
    return { a, b };
  }

  const endpoint = (store: EntitleStore, id: string) =>
    store.webhooks.create(
      { id, url: 'https://receiver.test/hooks', events: ['entitlements.changed'], description: '', secret: 'sealed' },
      admin,
      10,
    );

  const sso = (store: EntitleStore, value: boolean) =>
    store.overrides.set({ tenantId: 'acme', feature: 'can_use_sso', value, reason: 'test', expiresAt: null }, admin);

  /** The events claimed for sending, in their tenant's sequence (what a receiver orders by). */
  async function claimed(store: EntitleStore): Promise<Payload[]> {
    const deliveries = await store.outbox.claim('test', 100, 60_000);
    return deliveries
      .map((delivery) => JSON.parse(delivery.payload) as Payload)
      .sort((x, y) => x.data.sequence - y.data.sequence);
  }

  it('writes no event in the write: the fan-out makes it from the audit row, once, whoever looks', async () => {
    const { a, b } = await twoProcesses();
    await endpoint(a, 'ep_1');
    await sso(b, true);
    expect(await a.outbox.queue()).toEqual({ pending: 0, oldestCreatedAt: null });
    // Concurrently on PostgreSQL; one after another on SQLite, whose two connections here share one thread.
    const looks = [];
    if (db?.kind === 'postgres')
      looks.push(...(await Promise.all([a.outbox.fanOut(), b.outbox.fanOut(), a.outbox.fanOut()])));
    else for (const store of [a, b, a]) looks.push(await store.outbox.fanOut());
    expect(looks.reduce((sum, look) => sum + look.events, 0)).toBe(1);
    expect(await claimed(a)).toEqual([
      expect.objectContaining({
        type: 'entitlements.changed',
        data: expect.objectContaining({
          tenantId: 'acme',
          sequence: 1,
          changes: [{ feature: 'can_use_sso', before: false, after: true }],
        }),
      }),
    ]);
  });

  it('sends an endpoint every change committed after its creation and none before, whichever process wrote it', async () => {
    const { a, b } = await twoProcesses();
    await endpoint(a, 'ep_early');
    await sso(b, true); // before ep_late: ep_early only
    await endpoint(a, 'ep_late'); // process a; process b has not looked at endpoints since
    await sso(b, false); // after ep_late: both
    await b.outbox.fanOut();
    const late = await a.outbox.deliveries('ep_late');
    const early = await a.outbox.deliveries('ep_early');
    expect(late.items.map((delivery) => delivery.type)).toEqual(['entitlements.changed']);
    expect(early.items).toHaveLength(2);
    expect(early.items.map((delivery) => delivery.eventId)).toContain(late.items[0]?.eventId);
  });

  it('describes each change as it was when made, though later changes landed before the fan-out', async () => {
    const { a, b } = await twoProcesses();
    await endpoint(a, 'ep_1');
    await sso(b, true); // on free: false → true
    await b.tenants.setPlan('acme', { plan: 'enterprise', planVersion: 1 }, admin); // SSO comes with the plan now
    await sso(b, false); // on enterprise: true → false
    await b.overrides.clear('acme', 'can_use_sso', admin); // back to the plan's true
    await a.outbox.fanOut(2); // two audit rows at a time: later rows are walked back, not yet sent
    await a.outbox.fanOut(2);
    const events = await claimed(a);
    const ssoChanges = (event: Payload) => event.data.changes.filter((change) => change.feature === 'can_use_sso');
    expect(events.map((event) => [event.data.sequence, event.data.cause.kind, ssoChanges(event)])).toEqual([
      [1, 'override.set', [{ feature: 'can_use_sso', before: false, after: true }]],
      [2, 'plan.changed', []], // the override held SSO on through the plan change
      [3, 'override.set', [{ feature: 'can_use_sso', before: true, after: false }]],
      [4, 'override.removed', [{ feature: 'can_use_sso', before: false, after: true }]],
    ]);
    expect(events[1]?.data.changes.length).toBeGreaterThan(0);
  });

  it('keeps the attempts of a delivery, newest first, at most 20', async () => {
    const { a } = await twoProcesses();
    await endpoint(a, 'ep_1');
    await sso(a, true);
    await a.outbox.fanOut();
    for (let n = 1; n <= 22; n++) {
      const [delivery] = await a.outbox.claim('test', 1, 60_000);
      if (!delivery) throw new Error('nothing to claim');
      const at = new Date(Date.now() - 60_000 + n * 10).toISOString();
      await a.outbox.complete(
        'test',
        delivery,
        { at, status: 500, error: `HTTP 500 #${n}`, latencyMs: n, outcome: 'retry', nextAttemptAt: at },
        5,
      );
    }
    const [delivery] = (await a.outbox.deliveries('ep_1')).items;
    const attempts = await a.outbox.attempts(delivery?.id ?? '');
    expect(attempts).toHaveLength(20);
    expect(attempts[0]).toEqual(expect.objectContaining({ status: 500, error: 'HTTP 500 #22', latencyMs: 22 }));
    expect(attempts.at(-1)?.error).toBe('HTTP 500 #3');
  });
});
