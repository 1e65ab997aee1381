// entitle usage show|consume|grant|reset|reservations — metered usage from the terminal, on the
// same store and with the same atomic rule as the server (a CLI process and a server never
// over-consume). The CLI is an operator's tool: it works on any tenant, as an admin token does.

import type { Command } from 'commander';
import { tenantState } from '../../entitlements/tenant-directory.js';
import { InvalidInputError, TenantNotFoundError } from '../../errors.js';
import type { TenantState } from '../../entitlements/decide.js';
import { Meters } from '../../usage/meters.js';
import { consumeBody } from '../../usage/usage-answers.js';
import { formatTable, type CliContext } from '../cli-context.js';
import { parseExpiry } from './overrides-command.js';

/** A Meters service for one tenant, read once from the store (the CLI opens no tenant directory). */
async function metersFor(context: CliContext, tenantId: string): Promise<Meters> {
  const store = await context.store({ seedDemo: true });
  const policy = await context.policy();
  const tenant = await store.tenants.get(tenantId);
  if (!tenant) throw new TenantNotFoundError(tenantId);
  const state: TenantState = tenantState({ tenant, overrides: [...(await store.overrides.list({ tenantId }))] });
  return new Meters({
    usage: store.usage,
    policy: { snapshot: policy },
    tenants: {
      get: (id) => (id === tenantId ? state : undefined),
      load: async (id) => (id === tenantId ? state : undefined),
    },
    clock: Date.now,
  });
}

function wholeNumber(name: string, input: string): number {
  const value = Number(input);
  if (!/^\d+$/.test(input.trim()) || !Number.isSafeInteger(value))
    throw new InvalidInputError(`${name}: must be a whole number (got "${input}")`);
  return value;
}

export function registerUsage(program: Command, context: CliContext, setExitCode: (code: number) => void): void {
  const usage = program.command('usage').description("read and change tenants' metered usage");

  usage
    .command('show')
    .description("a tenant's meters: limit, used, remaining, when they reset")
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--json', 'print JSON (with every past period)')
    .action(async (options: { tenant: string; json?: boolean }) => {
      const meters = await metersFor(context, options.tenant);
      const readings = await meters.readAll(options.tenant);
      if (options.json) {
        context.json({ tenant: options.tenant, meters: readings, history: await meters.history(options.tenant) });
        return;
      }
      context.out(
        formatTable(
          ['feature', 'limit', 'used', 'remaining', 'reserved', 'top-ups', 'resets at'],
          readings.map((r) => [
            r.feature,
            String(r.limit),
            String(r.used),
            String(r.remaining),
            String(r.reserved),
            String(r.grantsRemaining),
            r.resetsAt ?? 'never',
          ]),
        ),
      );
    });

  usage
    .command('consume')
    .description('consume units of a meter, atomically (exit code 3 when the limit is reached)')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--feature <key>', 'meter feature key')
    .option('--amount <n>', 'units', '1')
    .option('--key <idempotencyKey>', 'the same key within 24 hours counts once')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (options: { tenant: string; feature: string; amount: string; key?: string; actor?: string }) => {
      const meters = await metersFor(context, options.tenant);
      const result = await meters.consume({
        tenantId: options.tenant,
        feature: options.feature,
        amount: wholeNumber('--amount', options.amount),
        idempotencyKey: options.key,
        context: { actor: context.actor(options.actor) },
      });
      context.out(JSON.stringify(consumeBody(result)));
      if (!result.granted) setExitCode(3);
    });

  usage
    .command('grant')
    .description('top up a meter: extra units used after the allowance, soonest-expiring first')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--feature <key>', 'meter feature key')
    .requiredOption('--amount <n>', 'extra units')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .option('--expires <when>', 'ISO 8601 time, or a duration from now such as 30d')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(
      async (options: {
        tenant: string;
        feature: string;
        amount: string;
        reason: string;
        expires?: string;
        actor?: string;
      }) => {
        const meters = await metersFor(context, options.tenant);
        const expiresAt =
          options.expires === undefined ? null : new Date(parseExpiry(options.expires, Date.now())).toISOString();
        const grant = await meters.grant(
          options.tenant,
          options.feature,
          { amount: wholeNumber('--amount', options.amount), reason: options.reason, expiresAt },
          { actor: context.actor(options.actor) },
        );
        context.out(
          `granted ${grant.amount} ${options.feature} to ${grant.tenantId}${grant.expiresAt ? ` until ${grant.expiresAt}` : ''} (${grant.id})`,
        );
      },
    );

  usage
    .command('reset')
    .description("set the current period's usage of a meter back to 0 and release its open reservations (audited)")
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--feature <key>', 'meter feature key')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (options: { tenant: string; feature: string; actor?: string }) => {
      const meters = await metersFor(context, options.tenant);
      const { reading, releasedReservations } = await meters.reset(options.tenant, options.feature, {
        actor: context.actor(options.actor),
      });
      context.out(
        `reset ${options.feature} for ${options.tenant}: used ${reading.used}, remaining ${String(reading.remaining)}, ${releasedReservations} reserved units released`,
      );
    });

  const reservations = usage.command('reservations').description("list and release a tenant's open reservations");

  reservations
    .command('list')
    .description("a tenant's open reservations, oldest first")
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--feature <key>', 'only this meter')
    .option('--json', 'print JSON')
    .action(async (options: { tenant: string; feature?: string; json?: boolean }) => {
      const meters = await metersFor(context, options.tenant);
      const list = await meters.reservations(options.tenant, options.feature);
      if (options.json) {
        context.json(list);
        return;
      }
      context.out(
        formatTable(
          ['ID', 'FEATURE', 'AMOUNT', 'HOLDER', 'CREATED', 'EXPIRES'],
          list.map((r) => [r.id, r.feature, String(r.amount), r.holder ?? '-', r.createdAt, r.expiresAt]),
        ),
      );
    });

  reservations
    .command('release')
    .description('give back everything a reservation holds (audited)')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--id <reservationId>', 'the reservation, as listed')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (options: { tenant: string; id: string; actor?: string }) => {
      const meters = await metersFor(context, options.tenant);
      const ended = await meters.endReservation(options.tenant, options.id, {
        end: { kind: 'release' },
        audited: true,
        context: { actor: context.actor(options.actor) },
      });
      context.out(
        `released ${ended.released} ${ended.reading.feature} held by ${options.id} for ${options.tenant}: remaining ${String(ended.reading.remaining)}`,
      );
    });
}
