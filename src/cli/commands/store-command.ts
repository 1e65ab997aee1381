// entitle migrate | export [--out file] | import <file>
// The store is SQLite (ENTITLE_DB) or PostgreSQL (DATABASE_URL, DATABASE_SCHEMA), as for the server.

import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { exportStore, importStore, type StoreDump } from '../../store/transfer.js';
import type { CliContext } from '../cli-context.js';

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
    .description('write every tenant, override and connection (tokens still encrypted) as JSON')
    .option('--out <file>', 'write to a file instead of standard output')
    .action(async (options: { out?: string }) => {
      const dump = await exportStore(await context.store());
      const text = `${JSON.stringify(dump, null, 2)}\n`;
      if (options.out) {
        await writeFile(resolve(context.io.cwd, options.out), text, { mode: 0o600 });
        context.io.stderr(`exported ${dump.tenants.length} tenants to ${options.out}\n`);
      } else context.out(text);
    });

  program
    .command('import')
    .description('load a file written by `entitle export` into this store; existing tenants are skipped')
    .argument('<file>', 'the export')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (file: string, options: { actor?: string }) => {
      const dump = JSON.parse(await readFile(resolve(context.io.cwd, file), 'utf8')) as StoreDump;
      const summary = await importStore(await context.store(), dump, { actor: context.actor(options.actor) });
      context.out(`imported ${summary.tenants} tenants, ${summary.overrides} overrides, ${summary.connections} connections`);
      if (summary.skipped.length > 0) context.io.stderr(`skipped (already there): ${summary.skipped.join(', ')}\n`);
    });
}
