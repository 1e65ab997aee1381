// entitle plans versions <plan> | entitle plans migrate <plan> --from N --to M [--dry-run]

import type { Command } from 'commander';
import { PlanMigrations, type FeatureChange, type MigrationResult } from '../../entitlements/plan-migrations.js';
import { PlanNotFoundError } from '../../errors.js';
import { formatTable, type CliContext } from '../cli-context.js';
import { UsageError } from './validate-command.js';

export function registerPlans(program: Command, context: CliContext): void {
  const plans = program.command('plans').description("a plan's versions and moving tenants between them");

  plans
    .command('versions')
    .description("list a plan's versions with how many tenants are on each")
    .argument('<plan>', 'plan key')
    .option('--json', 'print JSON')
    .action(async (key: string, options: { json?: boolean }) => {
      const policy = await context.policy();
      const plan = policy.plans.get(key);
      if (!plan) throw new PlanNotFoundError(key);
      const store = await context.store();
      const counts = new Map<number, number>();
      for (const version of plan.versions.keys())
        counts.set(version, (await store.tenants.idsOnVersion(key, version)).length);
      const rows = [...plan.versions.values()].map((version) => ({
        version: version.version,
        current: version.version === plan.version,
        extends: version.extends ?? null,
        tenants: counts.get(version.version) ?? 0,
      }));
      if (options.json) context.json({ plan: key, version: plan.version, versions: rows });
      else
        context.out(
          formatTable(
            ['VERSION', 'CURRENT', 'EXTENDS', 'TENANTS'],
            rows.map((row) => [String(row.version), row.current ? 'yes' : '', row.extends ?? '-', String(row.tenants)]),
          ),
        );
    });

  plans
    .command('migrate')
    .description(
      'move the tenants on one version of a plan to another, one audited write each (safe to re-run); --dry-run lists what each would lose or gain',
    )
    .argument('<plan>', 'plan key')
    .requiredOption('--from <version>', 'the version tenants are on')
    .requiredOption('--to <version>', 'the version to move them to')
    .option('--dry-run', 'list what would change and move nobody')
    .option('--json', 'print JSON')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(
      async (plan: string, options: { from: string; to: string; dryRun?: boolean; json?: boolean; actor?: string }) => {
        const from = versionOption('--from', options.from);
        const to = versionOption('--to', options.to);
        const policy = await context.policy();
        const migrations = new PlanMigrations({ store: await context.store(), policy: () => policy });
        const result = await migrations.migrate(
          { plan, from, to, dryRun: options.dryRun === true },
          { actor: context.actor(options.actor) },
        );
        if (options.json) context.json(result);
        else context.out(migrationText(result));
      },
    );
}

function versionOption(name: string, text: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(text)) throw new UsageError(`${name} must be a version number (1, 2, …)`);
  return Number(text);
}

/** What a migration did or would do, a line per tenant. */
export function migrationText(result: MigrationResult): string {
  const count = result.tenants.length === 1 ? '1 tenant' : `${result.tenants.length} tenants`;
  const lines = [
    result.dryRun
      ? `dry run: ${count} on ${result.plan}@${result.from} would move to ${result.plan}@${result.to}`
      : `moved ${result.moved} of ${count} on ${result.plan}@${result.from} to ${result.plan}@${result.to}`,
  ];
  const shown = (changes: readonly FeatureChange[]) =>
    changes.map((c) => `${c.feature} ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`).join(', ');
  for (const tenant of result.tenants) {
    const parts = [
      ...(tenant.loses.length > 0 ? [`loses ${shown(tenant.loses)}`] : []),
      ...(tenant.gains.length > 0 ? [`gains ${shown(tenant.gains)}`] : []),
    ];
    lines.push(`  ${tenant.tenant}: ${parts.length > 0 ? parts.join('; ') : 'no change'}`);
  }
  return lines.join('\n');
}
