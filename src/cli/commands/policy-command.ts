// entitle policy diff <new-dir> [--json] [--allow-revocations]
// What a proposed policy would change for the tenants in the store, for review in a pull request.

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { policyImpactOfPages, type PolicyImpact } from '../../entitlements/policy-impact.js';
import { tenantPages } from '../../entitlements/tenant-directory.js';
import { readPolicyDirectory } from '../../policy/read-policy.js';
import { InvalidPolicyError } from '../../policy/watch.js';
import type { CliContext } from '../cli-context.js';

export function registerPolicy(program: Command, context: CliContext, setExitCode: (code: number) => void): void {
  const policy = program.command('policy').description('review policy changes');
  policy
    .command('diff')
    .description(
      "list, feature by feature, which tenants' decisions a proposed policy would change; exit 1 when it revokes anything (a lower numeric limit counts)",
    )
    .argument('<new-dir>', 'directory with the proposed policy files')
    .option('--json', 'print JSON')
    .option('--allow-revocations', 'exit 0 even when the proposal revokes features or lowers limits')
    .action(async (dir: string, options: { json?: boolean; allowRevocations?: boolean }) => {
      const current = await context.policy();
      const proposed = await readPolicyDirectory(resolve(context.io.cwd, dir), context.io.cwd);
      if (!proposed.ok) throw new InvalidPolicyError(proposed.issues);
      const store = await context.store();
      const impact = await policyImpactOfPages(current, proposed.snapshot, tenantPages(store.changes), Date.now());
      if (options.json) context.json(impact);
      else context.out(impactText(impact));
      if (impact.revokes && !options.allowRevocations) {
        context.io.stderr(
          'the proposed policy revokes features from tenants or lowers their limits (pass --allow-revocations if that is intended)\n',
        );
        setExitCode(1);
      }
    });
}

export function impactText(impact: PolicyImpact): string {
  const lines = [
    `policy ${impact.fromVersion} → ${impact.toVersion}, ${impact.tenants} tenant${impact.tenants === 1 ? '' : 's'} checked`,
  ];
  if (impact.addedFeatures.length > 0) lines.push(`new features: ${impact.addedFeatures.join(', ')}`);
  if (impact.removedFeatures.length > 0) lines.push(`removed features: ${impact.removedFeatures.join(', ')}`);
  if (impact.features.length === 0) lines.push('no decision changes for any tenant');
  for (const feature of impact.features) {
    for (const sentence of feature.summary) lines.push(`  ${sentence}`);
  }
  return lines.join('\n');
}
