// entitle migrate | export [--out file] | import <file>
// The store is SQLite (ENTITLE_DB) or PostgreSQL (DATABASE_URL, DATABASE_SCHEMA), as for the server.
// Export and import move everything a deployment holds (see store/transfer), all or nothing.

import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { checkDump, exportStore, importStore, summarize, type DumpSummary } from '../../store/transfer.js';
import { openTokenCipher } from '../../secrets/encryption-keys.js';
import { openSigningSecret } from '../../webhooks/webhook-signing.js';
import { checkImportRows } from '../import-check.js';
import type { CliContext } from '../cli-context.js';
import { UsageError } from './validate-command.js';

export function registerStore(program: Command, context: CliContext): void {
  program
    .command('migrate')
    .description('apply pending migrations to the store (SQLite, or PostgreSQL with DATABASE_URL)')
    .action(async () => {
      const store = await context.store();
      context.out(`store ${store.kind}: migrations applied, schema up to date`);
    });

  program
    .command('export')
    .description(
      'write everything the store holds (tenants, overrides, tokens, connections with their tokens still encrypted, sync state, audit log and its archive anchors) as JSON',
    )
    .option('--out <file>', 'write to a file instead of standard output')
    .action(async (options: { out?: string }) => {
      const dump = await exportStore(await context.store());
      const text = `${JSON.stringify(dump, null, 2)}\n`;
      if (options.out) {
        await writeFile(resolve(context.io.cwd, options.out), text, { mode: 0o600 });
        context.io.stderr(`exported ${describe(summarize(dump.tables))} to ${options.out}\n`);
      } else context.out(text);
    });

  program
    .command('import')
    .description('load a file written by `entitle export` into this store, which must be empty: all of it or nothing')
    .argument('<file>', 'the export')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (file: string, options: { actor?: string }) => {
      let dump: unknown;
      try {
        dump = JSON.parse(await readFile(resolve(context.io.cwd, file), 'utf8'));
      } catch (error) {
        throw new UsageError(
          `${file}: not a readable JSON file (${error instanceof Error ? error.message : String(error)}); nothing was imported`,
        );
      }
      // Every row checked as the API would have, against the policy in force, before anything is written.
      // Webhook signing secrets must open with this deployment's keys, or nothing could be signed.
      const cipher = openTokenCipher(context.config.encryption, context.config.databasePath);
      checkImportRows(checkDump(dump), await context.policy(), {
        opensSecret: (endpointId, sealed) => {
          try {
            openSigningSecret(cipher, endpointId, sealed);
            return true;
          } catch {
            return false;
          }
        },
      });
      const summary = await importStore(await context.store(), dump, { actor: context.actor(options.actor) });
      context.out(`imported ${describe(summary)}`);
    });
}

/** "2 tenants, 3 overrides, …" */
function describe(summary: DumpSummary): string {
  const names: Record<keyof DumpSummary, string> = {
    tenants: 'tenants',
    tenant_addons: 'tenant add-ons',
    overrides: 'overrides',
    api_tokens: 'API tokens',
    connections: 'connections',
    connection_calendars: 'synced calendars',
    busy_blocks: 'busy blocks',
    billing_links: 'billing links',
    billing_subscriptions: 'billing subscriptions',
    billing_addons: 'billing add-ons',
    billing_events: 'billing events',
    usage_counters: 'usage counters',
    usage_grants: 'usage grants',
    usage_reservations: 'usage reservations',
    usage_outcomes: 'idempotent usage outcomes',
    audit_anchors: 'audit archive anchors',
    audit_log: 'audit rows',
    webhook_endpoints: 'webhook endpoints',
    webhook_events: 'webhook events',
    webhook_sequences: 'webhook sequences',
    webhook_deliveries: 'webhook deliveries',
  };
  // Billing, usage, anchor and add-on tables are named only when they hold rows: a deployment without them reads as before.
  const shown = (table: keyof DumpSummary) =>
    !(
      table.startsWith('billing_') ||
      table.startsWith('usage_') ||
      table.startsWith('webhook_') ||
      table === 'audit_anchors' ||
      table === 'tenant_addons'
    ) || summary[table] > 0;
  return (Object.keys(names) as (keyof DumpSummary)[])
    .filter(shown)
    .map((table) => `${summary[table]} ${names[table]}`)
    .join(', ');
}
