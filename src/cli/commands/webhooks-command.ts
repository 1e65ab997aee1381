// entitle webhooks add|list|remove|rotate|deliveries|replay: the admin API's webhook endpoints,
// straight on the store. Deliveries are sent by the server, not by the CLI.

import type { Command } from 'commander';
import type { WebhookEndpoint } from '../../store/repositories/webhook-endpoints.js';
import type { DeliveryStatus } from '../../store/repositories/webhook-outbox.js';
import { openTokenCipher } from '../../secrets/encryption-keys.js';
import { Webhooks } from '../../webhooks/webhooks.js';
import { formatTable, type CliContext } from '../cli-context.js';

export function registerWebhooks(program: Command, context: CliContext): void {
  const webhooks = program
    .command('webhooks')
    .description('outbound webhook endpoints, their delivery log and replays (docs/webhooks.md)');
  const service = async (): Promise<Webhooks> => {
    const store = await context.store();
    const settings = context.config.webhooks;
    return new Webhooks({
      endpoints: store.webhooks,
      outbox: store.outbox,
      clock: Date.now,
      allowPrivate: settings.allowPrivate,
      maxEndpointsPerPrincipal: settings.maxEndpointsPerPrincipal,
      secretOverlapMs: settings.secretOverlapMs,
      cipher: openTokenCipher(context.config.encryption, context.config.databasePath),
      ...(context.io.webhookTargets ? { targets: context.io.webhookTargets } : {}),
    });
  };
  const row = (e: WebhookEndpoint) => [
    e.id,
    e.url,
    e.events.join(','),
    e.disabledAt ? `disabled: ${e.disabledReason ?? ''}` : 'enabled',
    e.description,
  ];
  const table = (list: readonly WebhookEndpoint[]) =>
    formatTable(['ID', 'URL', 'EVENTS', 'STATUS', 'DESCRIPTION'], list.map(row));

  webhooks
    .command('add')
    .description('register an endpoint; its signing secret is printed once')
    .requiredOption('--url <url>', 'https URL the events are POSTed to')
    .requiredOption('--events <types>', 'comma-separated event types, e.g. entitlements.changed,meter.threshold')
    .option('--description <text>', 'what the endpoint is for')
    .option('--actor <actor>', 'who to name in the audit log')
    .option('--json', 'print JSON')
    .action(async (options: { url: string; events: string; description?: string; actor?: string; json?: boolean }) => {
      const { endpoint, secret } = await (
        await service()
      ).create(
        {
          url: options.url,
          events: options.events
            .split(',')
            .map((type) => type.trim())
            .filter(Boolean),
          ...(options.description ? { description: options.description } : {}),
        },
        { actor: context.actor(options.actor) },
      );
      if (options.json) return context.json({ endpoint, secret });
      context.out(secret);
      context.io.stderr(`endpoint ${endpoint.id} → ${endpoint.url}: store the secret now, it cannot be shown again\n`);
    });

  webhooks
    .command('list')
    .description('list endpoints (never their secrets)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const list = await (await service()).list();
      if (options.json) context.json(list);
      else context.out(table(list));
    });

  webhooks
    .command('remove <id>')
    .description('remove an endpoint and its deliveries')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (id: string, options: { actor?: string }) => {
      await (await service()).remove(id, { actor: context.actor(options.actor) });
      context.out(`removed ${id}`);
    });

  webhooks
    .command('rotate <id>')
    .description('a new signing secret, printed once; the old one keeps signing during the overlap')
    .option('--actor <actor>', 'who to name in the audit log')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { actor?: string; json?: boolean }) => {
      const { endpoint, secret } = await (await service()).rotateSecret(id, { actor: context.actor(options.actor) });
      if (options.json) return context.json({ endpoint, secret });
      context.out(secret);
      context.io.stderr(`the previous secret keeps signing until ${endpoint.previousSecretUntil ?? 'now'}\n`);
    });

  webhooks
    .command('deliveries <id>')
    .description('the delivery log of an endpoint, newest first; with --attempts, each attempt of one delivery')
    .option('--status <status>', 'pending, delivered or failed')
    .option('--limit <n>', 'how many', '50')
    .option('--attempts <deliveryId>', "that delivery's attempts, newest first")
    .option('--json', 'print JSON')
    .action(async (id: string, options: { status?: string; limit: string; attempts?: string; json?: boolean }) => {
      if (options.attempts) {
        const attempts = await (await service()).attempts(id, options.attempts);
        if (options.json) return context.json({ items: attempts });
        return context.out(
          formatTable(
            ['AT', 'OUTCOME', 'STATUS', 'ERROR', 'LATENCY'],
            attempts.map((a) => [
              a.at,
              a.outcome,
              a.status === null ? '' : String(a.status),
              a.error ?? '',
              `${a.latencyMs} ms`,
            ]),
          ),
        );
      }
      const page = await (
        await service()
      ).deliveries(id, {
        ...(options.status ? { status: options.status as DeliveryStatus } : {}),
        limit: Number(options.limit),
      });
      if (options.json) return context.json(page);
      context.out(
        formatTable(
          ['DELIVERY', 'WEBHOOK-ID', 'TYPE', 'TENANT', 'STATUS', 'ATTEMPTS', 'LAST', 'LATENCY', 'NEXT TRY'],
          page.items.map((d) => [
            d.id,
            d.eventId,
            d.type,
            d.tenantId,
            d.status,
            String(d.attempts),
            d.lastError ?? (d.lastStatus === null ? '' : String(d.lastStatus)),
            d.lastLatencyMs === null ? '' : `${d.lastLatencyMs} ms`,
            d.nextAttemptAt ?? '',
          ]),
        ),
      );
    });

  webhooks
    .command('replay <id>')
    .description('send again (same webhook-id): one delivery, or every delivery made in a time range')
    .option('--delivery <deliveryId>', 'the delivery to send again')
    .option('--from <time>', 'ISO 8601 start of the range (inclusive)')
    .option('--to <time>', 'ISO 8601 end of the range (exclusive; default now)')
    .action(async (id: string, options: { delivery?: string; from?: string; to?: string }) => {
      const webhooks = await service();
      const { replayed } = options.delivery
        ? await webhooks.replay(id, { deliveryId: options.delivery })
        : await webhooks.replay(id, {
            from: options.from ?? '',
            to: options.to ?? new Date().toISOString(),
          });
      context.out(`${replayed} deliveries queued again; the server sends them`);
    });
}
