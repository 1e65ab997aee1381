// entitle tenants create|set-plan|list|delete|link-billing|unlink-billing|addons set|remove|list

import type { Command } from 'commander';
import { TenantOperations } from '../../tenants/tenant-operations.js';
import { formatTable, type CliContext } from '../cli-context.js';
import { UsageError } from './validate-command.js';

export function registerTenants(program: Command, context: CliContext): void {
  const tenants = program.command('tenants').description('create, list and change tenants');
  const operations = async (): Promise<TenantOperations> => {
    const policy = await context.policy();
    return new TenantOperations({ store: await context.store(), policy: () => policy });
  };

  tenants
    .command('create')
    .description('create a tenant on a plan')
    .argument('<tenant>', 'tenant id, e.g. acme')
    .requiredOption('--plan <plan>', 'plan key')
    .option('--name <name>', 'display name (default: the id)')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (id: string, options: { plan: string; name?: string; actor?: string }) => {
      const tenant = await (
        await operations()
      ).createTenant(
        { id, plan: options.plan, ...(options.name ? { name: options.name } : {}) },
        { actor: context.actor(options.actor) },
      );
      context.out(`created tenant ${tenant.id} (${tenant.name}) on plan ${tenant.plan} version ${tenant.planVersion}`);
    });

  tenants
    .command('set-plan')
    .description("change a tenant's plan")
    .argument('<tenant>', 'tenant id')
    .argument('<plan>', 'plan key')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (id: string, plan: string, options: { actor?: string }) => {
      const { before, after } = await (
        await operations()
      ).changePlan(id, plan, { actor: context.actor(options.actor) });
      context.out(`tenant ${id}: plan ${before.plan}@${before.planVersion} → ${after.plan}@${after.planVersion}`);
    });

  tenants
    .command('list')
    .description('list tenants')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const store = await context.store();
      const all = [];
      let after: string | undefined;
      // Bounded: pages of 1000 until the store says there are no more.
      for (let page = 0; page < 1_000_000; page++) {
        const result = await store.tenants.list({ limit: 1000, ...(after ? { after } : {}) });
        all.push(...result.items);
        if (!result.nextCursor) break;
        after = result.nextCursor;
      }
      if (options.json) context.json(all);
      else
        context.out(
          formatTable(
            ['TENANT', 'NAME', 'PLAN', 'VERSION', 'CREATED'],
            all.map((t) => [t.id, t.name, t.plan, String(t.planVersion), t.createdAt]),
          ),
        );
    });

  const addons = tenants.command('addons').description("a tenant's add-ons: set a quantity, remove, list");
  addons
    .command('set')
    .description("hold a quantity of an add-on (the tenant's plan must be one it is available on)")
    .argument('<tenant>', 'tenant id')
    .argument('<addon>', 'add-on key')
    .option('--quantity <n>', 'units held', '1')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (id: string, addon: string, options: { quantity: string; actor?: string }) => {
      if (!/^[1-9][0-9]*$/.test(options.quantity)) throw new UsageError('--quantity must be a whole number from 1');
      const { before, after } = await (
        await operations()
      ).setAddon(id, addon, Number(options.quantity), { actor: context.actor(options.actor) });
      context.out(`tenant ${id}: add-on ${addon} × ${before?.quantity ?? 0} → × ${after.quantity}`);
    });
  addons
    .command('remove')
    .description('stop holding an add-on')
    .argument('<tenant>', 'tenant id')
    .argument('<addon>', 'add-on key')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (id: string, addon: string, options: { actor?: string }) => {
      await (await operations()).removeAddon(id, addon, { actor: context.actor(options.actor) });
      context.out(`tenant ${id}: add-on ${addon} removed`);
    });
  addons
    .command('list')
    .description("list a tenant's add-ons")
    .argument('<tenant>', 'tenant id')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const held = await (await context.store()).addons.list(id);
      if (options.json) context.json(held);
      else
        context.out(
          formatTable(
            ['ADDON', 'QUANTITY', 'SOURCE', 'SINCE'],
            held.map((a) => [
              a.addon,
              String(a.quantity),
              a.billing ? `${a.billing.provider}:${a.billing.subscriptionId}` : 'operator',
              a.createdAt,
            ]),
          ),
        );
    });

  tenants
    .command('delete')
    .description('delete a tenant with its overrides (its audit rows stay)')
    .argument('<tenant>', 'tenant id')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (id: string, options: { actor?: string }) => {
      await (await operations()).deleteTenant(id, { actor: context.actor(options.actor) });
      context.out(`deleted tenant ${id}`);
    });

  tenants
    .command('link-billing')
    .description('link a tenant to its billing customer: its subscriptions then decide its plan')
    .argument('<tenant>', 'tenant id')
    .argument('<customer>', 'the billing customer id, e.g. cus_N1x… (Stripe)')
    .option('--provider <provider>', 'billing system (only stripe is built)', 'stripe')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (id: string, customer: string, options: { provider: string; actor?: string }) => {
      if (options.provider !== 'stripe')
        throw new UsageError(`--provider: only "stripe" is supported (got ${JSON.stringify(options.provider)})`);
      if (!/^cus_[A-Za-z0-9]{1,250}$/.test(customer))
        throw new UsageError(`<customer>: a Stripe customer id starts with cus_ (got ${JSON.stringify(customer)})`);
      const { before, after } = await (
        await context.store()
      ).billing.link(id, 'stripe', customer, { actor: context.actor(options.actor) });
      context.out(
        `tenant ${id}: billing ${before ? `${before.provider} ${before.customerId}` : 'none'} → ${after.provider} ${after.customerId}`,
      );
    });

  tenants
    .command('unlink-billing')
    .description("remove a tenant's billing link")
    .argument('<tenant>', 'tenant id')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (id: string, options: { actor?: string }) => {
      const before = await (await context.store()).billing.unlink(id, { actor: context.actor(options.actor) });
      context.out(
        before
          ? `tenant ${id}: unlinked from ${before.provider} ${before.customerId}`
          : `tenant ${id} had no billing link`,
      );
    });
}
