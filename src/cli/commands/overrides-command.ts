// entitle overrides set|clear|list

import type { Command } from 'commander';
import { FeatureNotFoundError, InvalidInputError } from '../../errors.js';
import { UNLIMITED, type FeatureDefinition, type FeatureValue } from '../../policy/types.js';
import { TenantOperations } from '../../tenants/tenant-operations.js';
import { formatTable, type CliContext } from '../cli-context.js';

export function registerOverrides(program: Command, context: CliContext): void {
  const overrides = program.command('overrides').description('set, clear and list per-tenant overrides');

  overrides
    .command('set')
    .description("give a tenant a feature's value regardless of its plan")
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--feature <key>', 'feature key')
    .requiredOption(
      '--value <value>',
      'per the feature type: true/false, a number, a string, or a meter\'s allowance (a whole number, or "unlimited")',
    )
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .option('--expires <when>', 'ISO 8601 time, or a duration from now such as 30m, 12h, 7d, 2w')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(
      async (options: {
        tenant: string;
        feature: string;
        value: string;
        reason: string;
        expires?: string;
        actor?: string;
      }) => {
        const policy = await context.policy();
        const feature = policy.features.get(options.feature);
        if (!feature) throw new FeatureNotFoundError(options.feature);
        const operations = new TenantOperations({
          store: await context.store({ seedDemo: true }),
          policy: () => policy,
        });
        const { after } = await operations.setOverride(
          {
            tenantId: options.tenant,
            feature: options.feature,
            value: parseValue(feature, options.value),
            reason: options.reason,
            expiresAt: options.expires === undefined ? null : parseExpiry(options.expires, Date.now()),
          },
          { actor: context.actor(options.actor) },
        );
        context.out(
          `override set: ${after.tenantId} ${after.feature} = ${JSON.stringify(after.value)}${after.expiresAt ? ` until ${after.expiresAt}` : ''} (version ${after.version})`,
        );
      },
    );

  overrides
    .command('clear')
    .description('remove an override: the tenant goes back to its plan')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--feature <key>', 'feature key')
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (options: { tenant: string; feature: string; reason?: string; actor?: string }) => {
      const store = await context.store({ seedDemo: true });
      await store.overrides.clear(options.tenant, options.feature, {
        actor: context.actor(options.actor),
        ...(options.reason ? { reason: options.reason } : {}),
      });
      context.out(`override cleared: ${options.tenant} ${options.feature}`);
    });

  overrides
    .command('list')
    .description('list overrides')
    .option('--tenant <id>', 'only this tenant')
    .option('--json', 'print JSON')
    .action(async (options: { tenant?: string; json?: boolean }) => {
      const store = await context.store({ seedDemo: true });
      const list = await store.overrides.list(options.tenant ? { tenantId: options.tenant } : {});
      if (options.json) {
        context.json(list);
        return;
      }
      const now = Date.now();
      context.out(
        formatTable(
          ['TENANT', 'FEATURE', 'VALUE', 'EXPIRES', 'ACTOR', 'REASON'],
          list.map((o) => [
            o.tenantId,
            o.feature,
            JSON.stringify(o.value),
            o.expiresAt === null ? 'never' : Date.parse(o.expiresAt) <= now ? `${o.expiresAt} (expired)` : o.expiresAt,
            o.actor,
            o.reason,
          ]),
        ),
      );
    });
}

/** Reads a command-line value as the feature's type. */
export function parseValue(feature: FeatureDefinition, raw: string): FeatureValue {
  if (feature.type === 'boolean') {
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw new InvalidInputError(`--value: ${feature.key} is a boolean feature: give true or false`);
  }
  if (feature.type === 'meter') {
    // The override's checks (whole number, bounds) say the rest; a number or "unlimited" reaches them as such.
    if (raw.trim() === UNLIMITED) return UNLIMITED;
    const value = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value))
      throw new InvalidInputError(
        `--value: ${feature.key} is a meter: give its allowance per period, a whole number or "${UNLIMITED}"`,
      );
    return value;
  }
  if (feature.type === 'number') {
    const value = raw.trim() === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(value))
      throw new InvalidInputError(`--value: ${feature.key} is a number feature: give a number`);
    return value;
  }
  return raw;
}

const DURATION = /^(\d+)\s*(s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** An ISO time, or a duration from `now` such as `7d`. */
export function parseExpiry(input: string, now: number): string {
  const duration = DURATION.exec(input.trim());
  if (duration) return new Date(now + Number(duration[1]) * (UNIT_MS[duration[2] as string] ?? 0)).toISOString();
  return input.trim();
}
