// entitle policy diff: which tenants a proposed policy affects, and a non-zero exit on revocations.

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config.js';
import { runCliCaptured } from '../support/cli.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';

describe('entitle policy diff', () => {
  let cwd: string;
  let env: Env;
  let proposed: string;
  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'entitle-diff-'));
    env = { ENTITLE_DB: join(cwd, 'entitle.db'), ENTITLE_POLICIES: STARTER_POLICY_DIR };
    proposed = join(cwd, 'proposed');
    cpSync(STARTER_POLICY_DIR, proposed, { recursive: true });
    for (const [id, plan] of [
      ['a', 'business'],
      ['b', 'business'],
      ['c', 'pro'],
      ['d', 'enterprise'],
    ] as const) {
      expect((await cli('tenants', 'create', id, '--plan', plan)).code).toBe(0);
    }
  });

  const cli = (...args: string[]) => runCliCaptured(args, { env, cwd });

  it('says which tenants on which plan lose a feature, and exits 1', async () => {
    const plans = join(proposed, 'plans.yaml');
    const text = readFileSync(plans, 'utf8');
    writeFileSync(plans, text.replace('      can_use_webhooks: true\n', ''));
    const result = await cli('policy', 'diff', proposed);
    expect(result.stdout).toContain('revokes can_use_webhooks from 2 tenants on plan business');
    expect(result.stdout).toContain('revokes can_use_webhooks from 1 tenant on plan enterprise');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--allow-revocations/);
    expect((await cli('policy', 'diff', proposed, '--allow-revocations')).code).toBe(0);
    const json = JSON.parse((await cli('policy', 'diff', proposed, '--json', '--allow-revocations')).stdout);
    expect(json.features[0]).toMatchObject({
      feature: 'can_use_webhooks',
      revoked: 3,
      byPlan: { business: { revoked: 2 }, enterprise: { revoked: 1 } },
    });
  });

  it('counts a lower limit as a revocation, and a higher one or another string value as a change', async () => {
    const plans = join(proposed, 'plans.yaml');
    const text = readFileSync(plans, 'utf8');
    const edited = text
      .replace('      max_connected_calendars: 6\n', '      max_connected_calendars: 1\n')
      .replace('      max_connected_calendars: 2\n', '      max_connected_calendars: 4\n')
      .replace('      support_tier: priority\n', '      support_tier: email\n');
    expect(edited).not.toBe(text);
    writeFileSync(plans, edited);
    const result = await cli('policy', 'diff', proposed);
    expect(result.stdout.trimEnd().split('\n').slice(1)).toEqual([
      '  lowers max_connected_calendars for 2 tenants on plan business',
      '  changes max_connected_calendars for 1 tenant on plan pro',
      '  changes support_tier for 2 tenants on plan business',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/lowers their limits.*--allow-revocations/);
    expect((await cli('policy', 'diff', proposed, '--allow-revocations')).code).toBe(0);
    const json = JSON.parse((await cli('policy', 'diff', proposed, '--json', '--allow-revocations')).stdout);
    expect(json.revokes).toBe(true);
    expect(
      json.features.find((feature: { feature: string }) => feature.feature === 'max_connected_calendars'),
    ).toMatchObject({ revoked: 0, lowered: 2, changed: 1 });
  });

  it('does not count a raised limit or another string value as a revocation', async () => {
    const plans = join(proposed, 'plans.yaml');
    const text = readFileSync(plans, 'utf8');
    writeFileSync(
      plans,
      text
        .replace('      max_connected_calendars: 6\n', '      max_connected_calendars: 7\n')
        .replace('      support_tier: priority\n', '      support_tier: email\n'),
    );
    const result = await cli('policy', 'diff', proposed);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('changes max_connected_calendars for 2 tenants on plan business');
  });

  it('an identical policy changes nothing and exits 0', async () => {
    const result = await cli('policy', 'diff', proposed);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('no decision changes');
  });

  it('an invalid proposal is reported with positions', async () => {
    writeFileSync(join(proposed, 'plans.yaml'), 'plans:\n  pro:\n    extends: nowhere\n');
    const result = await cli('policy', 'diff', proposed);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/plans\.yaml:3:\d+: .*nowhere/);
  });
});
