// entitle audit verify|list

import type { Command } from 'commander';
import { ChainVerifier, parseAnchor } from '../../audit/audit-chain.js';
import { InvalidInputError } from '../../errors.js';
import { formatTable, type CliContext } from '../cli-context.js';

export function registerAudit(program: Command, context: CliContext, setExitCode: (code: number) => void): void {
  const audit = program.command('audit').description('the append-only, hash-chained audit log');

  audit
    .command('verify')
    .description('check the hash chain; exits 1 at the first changed, removed or reordered row')
    .option('--expect-head <seq:hash>', 'a head printed by an earlier verify: also detects rows removed from the end')
    .option('--json', 'print JSON')
    .action(async (options: { expectHead?: string; json?: boolean }) => {
      const anchor = options.expectHead === undefined ? undefined : parseAnchor(options.expectHead);
      if (options.expectHead !== undefined && !anchor) throw new InvalidInputError('--expect-head: give it as <seq>:<64 hex digits>, as verify prints it');
      const verifier = new ChainVerifier(anchor);
      await (await context.store()).audit.scan((record) => verifier.visit(record));
      const result = verifier.result;
      if (options.json) context.json(result);
      else if (result.ok) {
        context.out(`audit log ok: ${result.checked} rows, chain intact`);
        if (result.head) context.out(`head: ${result.head.seq}:${result.head.hash}  (keep it outside the database; --expect-head checks it later)`);
      } else context.out(`audit log TAMPERED at row ${result.firstBroken?.seq}: ${result.firstBroken?.problem} (${result.checked} rows checked)`);
      if (!result.ok) setExitCode(1);
    });

  audit
    .command('list')
    .description('newest first')
    .option('--tenant <id>', 'only this tenant')
    .option('--action <action>', 'an action, or a prefix ending in * (override.*)')
    .option('--limit <n>', 'rows', '50')
    .option('--json', 'print JSON')
    .action(async (options: { tenant?: string; action?: string; limit: string; json?: boolean }) => {
      const page = await (await context.store()).audit.list({
        ...(options.tenant ? { tenantId: options.tenant } : {}),
        ...(options.action ? { action: options.action } : {}),
        limit: Number(options.limit) || 50,
      });
      if (options.json) context.json(page.items);
      else context.out(formatTable(['SEQ', 'AT', 'ACTOR', 'TENANT', 'ACTION', 'TARGET', 'OUTCOME'], page.items.map((r) => [String(r.seq), r.at, r.actor, r.tenantId ?? '', r.action, r.target ?? '', r.outcome])));
    });
}
