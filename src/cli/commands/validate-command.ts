// entitle validate [dir] [--format text|json]

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { storedVersionCounts, versionLosses } from '../../entitlements/version-guard.js';
import { formatIssue, readPolicyDirectory } from '../../policy/read-policy.js';
import type { CliContext } from '../cli-context.js';

export function registerValidate(program: Command, context: CliContext, setExitCode: (code: number) => void): void {
  program
    .command('validate')
    .description('check policy files; prints every issue as file:line:column: message')
    .argument('[dir]', 'policy directory (default: ENTITLE_POLICIES or policies/)')
    .option('--format <format>', 'text or json', 'text')
    .option(
      '--store',
      'also refuse what a reload would: a change that takes something from a plan version tenants in the store are on (compared with the policy in force, ENTITLE_POLICIES)',
    )
    .action(async (dir: string | undefined, options: { format: string; store?: boolean }) => {
      if (options.format !== 'text' && options.format !== 'json') throw new UsageError('--format must be text or json');
      const directory = dir ? resolve(context.io.cwd, dir) : context.config.policyDirectory;
      let result = await readPolicyDirectory(directory, context.io.cwd);
      if (result.ok && options.store) {
        const current = await context.policy();
        const counts = await storedVersionCounts((await context.store()).tenants);
        const losses = versionLosses(current, result.snapshot, counts);
        if (losses.length > 0) result = { ok: false, issues: losses };
      }
      if (options.format === 'json') {
        context.json(
          result.ok
            ? {
                ok: true,
                version: result.snapshot.version,
                features: result.snapshot.features.size,
                plans: result.snapshot.plans.size,
                issues: [],
              }
            : { ok: false, issues: result.issues },
        );
      } else if (result.ok) {
        const { snapshot } = result;
        context.out(
          `policy ok: ${snapshot.features.size} features, ${snapshot.plans.size} plans, version ${snapshot.version}`,
        );
      } else {
        context.out(result.issues.map(formatIssue).join('\n'));
        context.io.stderr(`${result.issues.length} issue${result.issues.length === 1 ? '' : 's'} found\n`);
      }
      if (!result.ok) setExitCode(1);
    });
}

/** A mistake in how a command was called: exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}
