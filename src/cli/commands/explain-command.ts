// entitle explain --tenant T [--feature F] [--json]

import type { Command } from 'commander';
import { decide, decideAll } from '../../entitlements/decide.js';
import { explain, explainText } from '../../entitlements/explain.js';
import { tenantState } from '../../entitlements/tenant-directory.js';
import { FeatureNotFoundError } from '../../errors.js';
import type { CliContext } from '../cli-context.js';

export function registerExplain(program: Command, context: CliContext): void {
  program
    .command('explain')
    .description("show a tenant's decision for a feature (or every feature) and why")
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--feature <key>', 'feature key (default: every feature)')
    .option('--json', 'print JSON')
    .action(async (options: { tenant: string; feature?: string; json?: boolean }) => {
      const policy = await context.policy();
      const store = await context.store({ seedDemo: true });
      const [snapshot] = await store.changes.load([options.tenant]);
      const tenant = snapshot ? tenantState(snapshot) : undefined;
      const now = Date.now();
      let decisions;
      if (options.feature !== undefined) {
        const decision = decide(policy, tenant, options.feature, now);
        if (!decision) throw new FeatureNotFoundError(options.feature);
        decisions = [decision];
      } else {
        decisions = decideAll(policy, tenant, now);
      }
      const explanations = decisions.map((decision) => explain(options.tenant, decision));
      if (!tenant)
        context.io.stderr(
          `note: tenant "${options.tenant}" does not exist; unknown tenants get each feature's default\n`,
        );
      if (options.json) context.json(options.feature !== undefined ? explanations[0] : explanations);
      else context.out(explanations.map(explainText).join('\n\n'));
    });
}
