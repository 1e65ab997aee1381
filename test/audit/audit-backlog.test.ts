import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditBacklog } from '../../src/audit/audit-backlog.js';
import { StoreUnavailableError } from '../../src/errors.js';
import type { AuditEvent, EntitleStore } from '../../src/store/store.js';
import { testDatabase, type TestDatabase } from '../support/store.js';

const denial = (n: number): AuditEvent => ({
  actor: `user:u${n}`,
  tenantId: 'acme',
  action: 'gate.denied',
  target: 'feature:sync',
  outcome: 'denied',
  details: { n },
});

describe('AuditBacklog', () => {
  let database: TestDatabase;
  let store: EntitleStore;
  let down: boolean;
  let health: EventEmitter<{ fresh: [] }> & { staleSince: number | undefined };
  const logged: { level: string; message: string | undefined; details: object }[] = [];
  const logger = Object.fromEntries(
    ['debug', 'info', 'warn', 'error'].map((level) => [
      level,
      (details: object, message?: string) => void logged.push({ level, message, details }),
    ]),
  ) as never;

  beforeEach(async () => {
    logged.length = 0;
    batches = [];
    database = testDatabase();
    store = await database.open({ clock: () => Date.parse('2030-01-01T00:00:05Z') });
    down = false;
    health = Object.assign(new EventEmitter<{ fresh: [] }>(), { staleSince: undefined as number | undefined });
  });
  afterEach(async () => {
    await store.close();
    await database.drop();
  });

  /** Transactions the backlog asked for, by size. */
  let batches: number[] = [];
  /** The store's audit log, failing like an unreachable database while `down`; one transaction per batch. */
  const audit = {
    appendBatch: async (events: readonly AuditEvent[]) => {
      if (down) throw new StoreUnavailableError();
      batches.push(events.length);
      await store.audit.appendBatch(events);
    },
  };
  const rows = async () =>
    [...(await store.audit.list()).items].reverse().map(({ action, details }) => ({ action, details }));

  describe('batching', () => {
    it('writes rows of one window together in one transaction, in order, and nothing before', async () => {
      const backlog = new AuditBacklog({ audit, health, logger, windowMs: 60_000 });
      for (let n = 1; n <= 5; n++) await backlog.append(denial(n));
      expect(await rows()).toEqual([]);
      expect(backlog.size).toBe(5);
      await backlog.flush();
      expect(batches).toEqual([5]);
      expect((await rows()).map((row) => (row.details as { n: number }).n)).toEqual([1, 2, 3, 4, 5]);
      await backlog.close();
    });

    it('never lets more than maxBatch rows wait: the next append waits for a transaction', async () => {
      const backlog = new AuditBacklog({ audit, health, logger, windowMs: 60_000, maxBatch: 3 });
      for (let n = 1; n <= 10; n++) {
        await backlog.append(denial(n));
        expect(backlog.size).toBeLessThanOrEqual(3);
      }
      expect(batches).toEqual([3, 3, 3]);
      expect(backlog.size).toBe(1);
      await backlog.close();
      expect((await rows()).map((row) => (row.details as { n: number }).n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });

    it('writes on its own once the window has passed', async () => {
      const backlog = new AuditBacklog({ audit, health, logger, windowMs: 5 });
      await backlog.append(denial(1));
      await backlog.append(denial(2));
      // Bounded wait (in time, not turns: a busy machine runs a thousand turns before a 5 ms timer) for the timer's transaction.
      for (const deadline = Date.now() + 5_000; batches.length === 0 && Date.now() < deadline;)
        await new Promise((resolve) => setTimeout(resolve, 2));
      expect(batches).toEqual([2]);
      await backlog.close();
    });
  });

  it('appends at once while the store answers', async () => {
    const backlog = new AuditBacklog({ audit, health, logger, windowMs: 0 });
    await backlog.append(denial(1));
    expect(await rows()).toEqual([{ action: 'gate.denied', details: { n: 1 } }]);
    expect(backlog.size).toBe(0);
  });

  it('keeps events (in order, with when they happened) while the store fails, and appends them when it is fresh again', async () => {
    const backlog = new AuditBacklog({
      audit,
      health,
      logger,
      windowMs: 0,
      clock: () => Date.parse('2030-01-01T00:00:01Z'),
    });
    down = true;
    await backlog.append(denial(1)); // tried, failed, kept
    health.staleSince = 1;
    await backlog.append(denial(2)); // known stale: kept without trying
    expect(backlog.size).toBe(2);
    expect(await rows()).toEqual([]);

    down = false;
    health.staleSince = undefined;
    health.emit('fresh');
    await backlog.flush();
    const deferred = { deferred: true, occurredAt: '2030-01-01T00:00:01.000Z' };
    expect(await rows()).toEqual([
      { action: 'gate.denied', details: { n: 1, ...deferred } },
      { action: 'gate.denied', details: { n: 2, ...deferred } },
    ]);
    expect(backlog.size).toBe(0);
  });

  it('writes what is waiting before a new event once the store answers, even without a fresh event', async () => {
    const backlog = new AuditBacklog({ audit, health, logger, windowMs: 0 });
    down = true;
    await backlog.append(denial(1));
    down = false;
    await backlog.append(denial(2));
    expect((await rows()).map((row) => (row.details as { n: number }).n)).toEqual([1, 2]);
  });

  it('is bounded: past the bound events are counted, logged, and the loss is itself audited when the store is back', async () => {
    const backlog = new AuditBacklog({ audit, health, logger, windowMs: 0, maxBatch: 2, maxEvents: 2 });
    health.staleSince = 1;
    for (let n = 1; n <= 5; n++) await backlog.append(denial(n));
    expect(backlog.size).toBe(2);
    expect(logged.filter((entry) => entry.level === 'error')).toEqual([
      { level: 'error', message: expect.stringMatching(/backlog full/), details: { maxEvents: 2 } },
    ]);

    health.staleSince = undefined;
    await backlog.flush();
    expect((await rows()).map((row) => row.action)).toEqual(['gate.denied', 'gate.denied', 'audit.dropped']);
    expect((await rows())[2]?.details).toMatchObject({ dropped: 3 });
  });

  it('says at shutdown how many rows it could not write', async () => {
    const backlog = new AuditBacklog({ audit, health, logger, windowMs: 0 });
    down = true;
    health.staleSince = 1;
    await backlog.append(denial(1));
    await backlog.close();
    expect(logged.at(-1)).toEqual({
      level: 'error',
      message: expect.stringMatching(/lost at shutdown/),
      details: { lost: 1 },
    });
  });
});
