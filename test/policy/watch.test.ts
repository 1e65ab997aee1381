import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidPolicyError, PolicyWatcher } from '../../src/policy/watch.js';
import { policyDirectory } from '../support/policy.js';

const FEATURES =
  'features:\n  sync:\n    name: Sync\n    description: Two-way sync.\n    type: boolean\n    default: false\n    upgradeMessage: Upgrade for sync.\n';
const PLANS = (value: boolean) => `plans:\n  free:\n    features:\n      sync: ${value}\n`;

describe('policy hot reload', () => {
  const watchers: PolicyWatcher[] = [];
  afterEach(() => {
    for (const watcher of watchers.splice(0)) watcher.close();
  });

  async function open(files: Record<string, string>) {
    const directory = policyDirectory(files);
    const watcher = await PolicyWatcher.open({ directory, debounceMs: 10 });
    watchers.push(watcher);
    return { directory, watcher };
  }

  it('refuses to start on an invalid policy, with every issue', async () => {
    const directory = policyDirectory({ 'a.yaml': 'plans:\n  free:\n    extends: gold\n' });
    const error = await PolicyWatcher.open({ directory, watch: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPolicyError);
    expect(
      (error as InvalidPolicyError).issues.map((issue) => `${issue.line}:${issue.column} ${issue.message}`),
    ).toEqual(['3:14 plans.free.extends: unknown plan "gold"']);
  });

  it('swaps in a valid change when a file is written', async () => {
    const { directory, watcher } = await open({ 'features.yaml': FEATURES, 'plans.yaml': PLANS(false) });
    const before = watcher.snapshot;
    const changed = once(watcher, 'change');
    writeFileSync(join(directory, 'plans.yaml'), PLANS(true));
    const [next, previous] = await changed;
    expect(previous).toBe(before);
    expect(next).toBe(watcher.snapshot);
    expect(watcher.snapshot.plans.get('free')?.values.get('sync')?.value).toBe(true);
    expect(watcher.status).toMatchObject({ version: watcher.snapshot.version, lastError: null });
  });

  it('keeps the last good policy when an edit breaks it, and reports where', async () => {
    const { directory, watcher } = await open({ 'features.yaml': FEATURES, 'plans.yaml': PLANS(true) });
    const good = watcher.snapshot;
    const invalid = once(watcher, 'invalid');
    writeFileSync(join(directory, 'plans.yaml'), 'plans:\n  free:\n    features:\n      sync: maybe\n');
    const [issues] = await invalid;
    expect(watcher.snapshot).toBe(good);
    expect(issues).toEqual([
      {
        file: expect.stringMatching(/plans\.yaml$/),
        line: 4,
        column: 13,
        message:
          'plans.free.features.sync: must be a boolean, as the feature\'s type is "boolean" (got string "maybe")',
      },
    ]);
    expect(watcher.status.lastError?.issues).toEqual(issues);
    expect(watcher.status.version).toBe(good.version);
  });

  it('keeps the last good policy when a file is deleted from under it, and recovers after', async () => {
    const { directory, watcher } = await open({ 'features.yaml': FEATURES, 'plans.yaml': PLANS(true) });
    const good = watcher.snapshot;
    const invalid = once(watcher, 'invalid');
    rmSync(join(directory, 'features.yaml'));
    await invalid;
    expect(watcher.snapshot).toBe(good);
    const changed = once(watcher, 'change');
    writeFileSync(join(directory, 'features.yaml'), FEATURES.replace('Sync', 'Calendar sync'));
    await changed;
    expect(watcher.snapshot.features.get('sync')?.name).toBe('Calendar sync');
    expect(watcher.status.lastError).toBeNull();
  });

  it('emits nothing when a reload finds the same content', async () => {
    const { watcher } = await open({ 'features.yaml': FEATURES });
    let changes = 0;
    watcher.on('change', () => changes++);
    await watcher.reload();
    expect(changes).toBe(0);
  });
});
