// Malformed policy files through the hot-reload watcher: a syntax error, an extends cycle, an
// empty file, a binary file, wrong types, and a file that vanishes between the directory
// listing and its read (an editor's atomic save mid-reload). Each is reported with its position
// and the last good policy stays in force; the next good edit is picked up.

import { once } from 'node:events';
import type * as FsPromises from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PolicyWatcher } from '../../src/policy/watch.js';
import type { PolicyIssue } from '../../src/policy/types.js';
import { policyDirectory } from '../support/policy.js';

/** Files whose next read fails as if they had just been deleted. */
const vanishing = vi.hoisted(() => new Set<string>());

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof FsPromises>();
  const readFile = ((path: Parameters<typeof actual.readFile>[0], ...rest: unknown[]) => {
    const name = String(path);
    for (const file of vanishing) {
      if (!name.endsWith(file)) continue;
      vanishing.delete(file);
      return Promise.reject(
        Object.assign(new Error(`ENOENT: no such file or directory, open '${name}'`), { code: 'ENOENT' }),
      );
    }
    return (actual.readFile as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
  }) as typeof actual.readFile;
  return { ...actual, readFile, default: { ...actual, readFile } };
});

const FEATURES =
  'features:\n  sync:\n    name: Sync\n    description: Two-way sync.\n    type: boolean\n    default: false\n    upgradeMessage: Upgrade for sync.\n';
const PLANS = (value: boolean) => `plans:\n  free:\n    features:\n      sync: ${value}\n  pro:\n    extends: free\n`;

const MALFORMED: readonly { readonly name: string; readonly content: string | Buffer; readonly issue: string }[] = [
  { name: 'a YAML syntax error', content: 'plans: [\n  free: {\n', issue: 'plans.yaml:3:1: YAML syntax error' },
  {
    name: 'an extends cycle',
    content: 'plans:\n  free:\n    extends: pro\n  pro:\n    extends: free\n',
    issue: 'plans.yaml:3:14: plans.free.extends: extends cycle',
  },
  { name: 'an empty file', content: '', issue: 'plans.yaml:1:1: the file is empty' },
  {
    name: 'a binary file',
    content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 0xff, 0xfe, 0]),
    issue: 'plans.yaml:1:1: not a text file',
  },
  {
    name: 'wrong types',
    content: 'plans:\n  free:\n    features:\n      sync: [true]\n',
    issue: 'plans.yaml:4:13: plans.free.features.sync',
  },
];

const formatted = (issues: readonly PolicyIssue[]) =>
  issues.map((issue) => `${issue.file.split('/').at(-1)}:${issue.line}:${issue.column}: ${issue.message}`);

describe('malformed policy files through the watcher', () => {
  const watchers: PolicyWatcher[] = [];
  afterEach(() => {
    vanishing.clear();
    for (const watcher of watchers.splice(0)) watcher.close();
  });

  async function open(watch = true) {
    const directory = policyDirectory({ 'features.yaml': FEATURES, 'plans.yaml': PLANS(true) });
    const watcher = await PolicyWatcher.open({ directory, debounceMs: 10, watch });
    watchers.push(watcher);
    return { directory, watcher };
  }

  it.each(MALFORMED)(
    '$name: reported with its position, the last good policy stays, the next good edit is taken',
    async ({ content, issue }) => {
      const { directory, watcher } = await open();
      const good = watcher.snapshot;
      const invalid = once(watcher, 'invalid') as Promise<[PolicyIssue[]]>;
      writeFileSync(join(directory, 'plans.yaml'), content);
      const [issues] = await invalid;
      expect(
        formatted(issues).some((line) => line.startsWith(issue)),
        formatted(issues).join('\n'),
      ).toBe(true);
      expect(watcher.snapshot).toBe(good);
      expect(watcher.status).toMatchObject({ version: good.version, lastError: { issues } });
      expect(watcher.snapshot.plans.get('free')?.values.get('sync')?.value).toBe(true);

      const changed = once(watcher, 'change');
      writeFileSync(join(directory, 'plans.yaml'), PLANS(false));
      await changed;
      expect(watcher.snapshot.plans.get('free')?.values.get('sync')?.value).toBe(false);
      expect(watcher.status.lastError).toBeNull();
    },
  );

  it('a file that vanishes between the listing and its read: reported, the last good policy stays, the next reload takes the saved file', async () => {
    const { directory, watcher } = await open(false);
    const good = watcher.snapshot;
    const reported: (readonly PolicyIssue[])[] = [];
    watcher.on('invalid', (issues) => reported.push(issues));
    writeFileSync(join(directory, 'plans.yaml'), PLANS(false));
    vanishing.add('plans.yaml');
    await watcher.reload();
    expect(reported.map(formatted)).toEqual([
      [expect.stringMatching(/^plans\.yaml:1:1: cannot read file: .*(no such file|ENOENT|not found)/i)],
    ]);
    // A policy without its plans would have been valid: it must not have been swapped in.
    expect(watcher.snapshot).toBe(good);

    await watcher.reload();
    expect(watcher.snapshot.plans.get('free')?.values.get('sync')?.value).toBe(false);
    expect(watcher.status.lastError).toBeNull();
  });
});
