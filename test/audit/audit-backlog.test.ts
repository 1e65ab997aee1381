import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditBacklog } from '../../src/audit/audit-backlog.js';
import { StoreUnavailableError } from '../../src/errors.js';
import type { AuditEvent, EntitleStore } from '../../src/store/store.js';
import { testDatabase, type TestDatabase } from '../support/store.js';

const denial = (n: number): AuditEvent => ({ actor: `user:u${n}`, tenantId: 'acme', action: 'gate.denied', target: 'feature:sync', outcome: 'denied', details: { n } });

describe('AuditBacklog', () => {
  let database: TestDatabase;
  let store: EntitleStore;
  let down: boolean;
  let health: EventEmitter<{ fresh: [] }> & { staleSince: number | undefined };
  const logged: { level: string; message: string | undefined; details: object }[] = [];
  const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((level) => [level, (details: object, message?: string) => void logged.push({ level, message, details })])) as never;

  beforeEach(async () => {
    logged.length = 0;
    database = testDatabase();
    store = await database.open({ clock: () => Date.parse('2030-01-01T00:00:05Z') });
    down = false;
    health = Object.assign(new EventEmitter<{ fresh: [] }>(), { staleSince: undefined as number | undefined });
  });
  afterEach(async () => {
    await store.close();
    await database.drop();
  });

  /** The store's audit log, failing like an unreachable database while `down`. */
  const audit = {
    append: (event: AuditEvent) => (down ? Promise.reject(new StoreUnavailableError()) : store.audit.append(event)),
  };
  const rows = async () => [...(await store.audit.list()).items].reverse().map(({ action, details }) => ({ action, details }));

  it('appends at once while the store answers', async () => {
    const backlog = new AuditBacklog({ audit, health, logger });
    await backlog.append(denial(1));
    expect(await rows()).toEqual([{ action: 'gate.denied', details: { n: 1 } }]);
    expect(backlog.size).toBe(0);
  });

  it('keeps events (in order, with when they happened) while the store fails, and appends them when it is fresh again', async () => {
    const backlog = new AuditBacklog({ audit, health, logger, clock: () => Date.parse('2030-01-01T00:00:01Z') });
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
    const backlog = new AuditBacklog({ audit, health, logger });
    down = true;
    await backlog.append(denial(1));
    down = false;
    await backlog.append(denial(2));
    expect((await rows()).map((row) => (row.details as { n: number }).n)).toEqual([1, 2]);
  });

  it('is bounded: past the bound events are counted, logged, and the loss is itself audited when the store is back', async () => {
    const backlog = new AuditBacklog({ audit, health, logger, maxEvents: 2 });
    health.staleSince = 1;
    for (let n = 1; n <= 5; n++) await backlog.append(denial(n));
    expect(backlog.size).toBe(2);
    expect(logged.filter((entry) => entry.level === 'error')).toEqual([{ level: 'error', message: expect.stringMatching(/backlog full/), details: { maxEvents: 2 } }]);

    health.staleSince = undefined;
    await backlog.flush();
    expect((await rows()).map((row) => row.action)).toEqual(['gate.denied', 'gate.denied', 'audit.dropped']);
    expect((await rows())[2]?.details).toMatchObject({ dropped: 3 });
  });

  it('says at shutdown how many rows it could not write', async () => {
    const backlog = new AuditBacklog({ audit, health, logger });
    down = true;
    health.staleSince = 1;
    await backlog.append(denial(1));
    await backlog.close();
    expect(logged.at(-1)).toEqual({ level: 'error', message: expect.stringMatching(/lost at shutdown/), details: { lost: 1 } });
  });
});
