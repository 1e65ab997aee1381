// The maintenance registry: periodic store tasks on a jittered timer, opportunistic runs when
// overdue, failures logged and retried at the next turn.

import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Maintenance, type MaintenanceTask } from '../../src/maintenance/maintenance.js';

let maintenance: Maintenance | undefined;
afterEach(async () => {
  await maintenance?.close();
  maintenance = undefined;
});

function counting(name = 'purge', everyMs = 60_000): MaintenanceTask & { runs: number[] } {
  const runs: number[] = [];
  return { name, everyMs, runs, run: async (now) => (runs.push(now), 2) };
}

describe('Maintenance', () => {
  it('runs each task on its own timer once started, with no cron', async () => {
    const task = counting('purge', 1000);
    // random() = 0: the first turn comes at once.
    maintenance = new Maintenance({ clock: () => 5, random: () => 0 });
    maintenance.register(task);
    expect(task.runs).toEqual([]);
    maintenance.start();
    expect(await once(maintenance, 'ran')).toEqual(['purge', 2]);
    expect(task.runs).toEqual([5]);
  });

  it('runs an overdue task when nudged, and not again within its period', async () => {
    let now = 0;
    const task = counting('purge', 60_000);
    maintenance = new Maintenance({ clock: () => now });
    maintenance.register(task);
    await maintenance.nudge('purge');
    now = 59_999;
    await maintenance.nudge('purge');
    now = 60_000;
    await maintenance.nudge('purge');
    expect(task.runs).toEqual([0, 60_000]);
  });

  it('reports a failing task and runs it again at its next turn', async () => {
    let now = 0;
    let fail = true;
    maintenance = new Maintenance({ clock: () => now });
    maintenance.register({
      name: 'flaky',
      everyMs: 1000,
      run: async () => {
        if (fail) throw new Error('store unavailable');
        return 1;
      },
    });
    const failed = once(maintenance, 'failed');
    await maintenance.nudge('flaky');
    expect((await failed)[0]).toBe('flaky');
    fail = false;
    now = 1000;
    const ran = once(maintenance, 'ran');
    await maintenance.nudge('flaky');
    expect(await ran).toEqual(['flaky', 1]);
  });

  it('refuses a second task of the same name and a period under a second', () => {
    maintenance = new Maintenance({ clock: () => 0 });
    maintenance.register(counting('purge'));
    expect(() => maintenance?.register(counting('purge'))).toThrow(/registered already/);
    expect(() => maintenance?.register(counting('fast', 10))).toThrow(/at least 1000/);
  });
});
