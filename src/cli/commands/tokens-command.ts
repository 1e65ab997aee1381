// entitle tokens create|list|revoke

import type { Command } from 'commander';
import { issueApiToken } from '../../auth/api-tokens.js';
import type { Role } from '../../store/store.js';
import { formatTable, type CliContext } from '../cli-context.js';
import { parseExpiry } from './overrides-command.js';

export function registerTokens(program: Command, context: CliContext): void {
  const tokens = program.command('tokens').description('API tokens (bearer tokens) for tenants and operators');

  tokens
    .command('create')
    .description('create a token; it is printed once and stored only as a hash')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--user <id>', 'user id within the tenant')
    .option(
      '--role <role>',
      'member (its own tenant), admin (the admin API), client (read-only decisions and meter readings for any tenant: Unleash SDKs, OFREP) or service (an app backend metering its own tenant: consume, refund, reserve)',
      'member',
    )
    .option('--name <name>', 'a label to recognise the token by')
    .option('--expires <when>', 'ISO 8601 time or a duration such as 90d')
    .option('--actor <actor>', 'who to name in the audit log')
    .option('--json', 'print JSON')
    .action(
      async (options: {
        tenant: string;
        user: string;
        role: string;
        name?: string;
        expires?: string;
        actor?: string;
        json?: boolean;
      }) => {
        const { token, record } = await issueApiToken(
          await context.store({ seedDemo: true }),
          {
            tenantId: options.tenant,
            userId: options.user,
            role: options.role as Role,
            ...(options.name ? { name: options.name } : {}),
            expiresAt: options.expires ? parseExpiry(options.expires, Date.now()) : null,
          },
          { actor: context.actor(options.actor) },
        );
        if (options.json) {
          context.json({ token, ...record });
          return;
        }
        context.out(token);
        context.io.stderr(
          `token ${record.id} for ${record.userId}@${record.tenantId} (${record.role})${record.expiresAt ? `, expires ${record.expiresAt}` : ''}: store it now, it cannot be shown again\n`,
        );
      },
    );

  tokens
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--tenant <id>', 'only this tenant')
    .option('--json', 'print JSON')
    .action(async (options: { tenant?: string; json?: boolean }) => {
      const list = await (await context.store()).tokens.list(options.tenant ? { tenantId: options.tenant } : {});
      if (options.json) context.json(list);
      else
        context.out(
          formatTable(
            ['ID', 'TENANT', 'USER', 'ROLE', 'NAME', 'CREATED', 'STATUS'],
            list.map((t) => [
              t.id,
              t.tenantId,
              t.userId,
              t.role,
              t.name ?? '',
              t.createdAt,
              t.revokedAt ? `revoked ${t.revokedAt}` : t.expiresAt ? `expires ${t.expiresAt}` : 'active',
            ]),
          ),
        );
    });

  tokens
    .command('revoke')
    .description('revoke a token by id')
    .argument('<id>', 'token id (the part after ent_)')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (id: string, options: { actor?: string }) => {
      await (await context.store()).tokens.revoke(id, { actor: context.actor(options.actor) });
      context.out(`revoked token ${id}`);
    });
}
