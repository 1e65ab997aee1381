// entitle audit verify|list|archive

import type { Command } from 'commander';
import { archiveAudit, verifyArchiveFile, verifyAuditLog } from '../../audit/audit-archive.js';
import { parseAnchor, type ChainVerification } from '../../audit/audit-chain.js';
import { InvalidInputError } from '../../errors.js';
import { formatTable, type CliContext } from '../cli-context.js';
import { parseDurationMs } from '../../config.js';

export function registerAudit(program: Command, context: CliContext, setExitCode: (code: number) => void): void {
  const audit = program.command('audit').description('the append-only, hash-chained audit log');

  audit
    .command('verify')
    .description(
      'check the hash chain (from the last archive anchor); exits 1 at the first changed, removed or reordered row',
    )
    .option(
      '--expect-head <seq:hash>',
      'a head printed by an earlier verify (of the store, or of the --file archive): also detects rows removed from the end',
    )
    .option('--file <archive>', 'verify an archive file written by `audit archive` on its own, instead of the store')
    .option('--json', 'print JSON')
    .action(async (options: { expectHead?: string; file?: string; json?: boolean }) => {
      const anchor = options.expectHead === undefined ? undefined : parseAnchor(options.expectHead);
      if (options.expectHead !== undefined && !anchor)
        throw new InvalidInputError('--expect-head: give it as <seq>:<64 hex digits>, as verify prints it');
      const result: ChainVerification = options.file
        ? await verifyArchiveFile(options.file, anchor)
        : await verifyAuditLog((await context.store()).audit, anchor);
      const what = options.file ? `archive ${options.file}` : 'audit log';
      if (options.json) context.json(result);
      else if (result.ok) {
        context.out(`${what} ok: ${result.checked} rows, chain intact`);
        if (result.head)
          context.out(
            `head: ${result.head.seq}:${result.head.hash}  (keep it outside the database; --expect-head checks it later)`,
          );
      } else
        context.out(
          `${what} TAMPERED at row ${result.firstBroken?.seq}: ${result.firstBroken?.problem} (${result.checked} rows checked)`,
        );
      if (!result.ok) setExitCode(1);
    });

  audit
    .command('archive')
    .description(
      'move the rows written before a time to a JSON Lines file with the chain anchors, and delete them from the store (one transaction)',
    )
    .requiredOption('--before <when>', 'an ISO 8601 time, or an age such as 90d (rows older than that)')
    .requiredOption('--out <file>', 'the archive file to write (must not exist)')
    .option('--json', 'print JSON')
    .action(async (options: { before: string; out: string; json?: boolean }) => {
      const before = archiveCutoff(options.before, Date.now());
      const archived = await archiveAudit((await context.store()).audit, before, options.out);
      if (options.json) context.json({ ...archived, before, file: archived.rows > 0 ? options.out : null });
      else if (archived.rows === 0) context.out(`no audit rows before ${before}: nothing archived`);
      else
        context.out(
          `archived ${archived.rows} rows before ${before} to ${options.out}; the store's chain now starts after ${archived.anchor?.seq}:${archived.anchor?.hash}`,
        );
    });

  audit
    .command('list')
    .description('newest first')
    .option('--tenant <id>', 'only this tenant')
    .option('--action <action>', 'an action, or a prefix ending in * (override.*)')
    .option('--limit <n>', 'rows', '50')
    .option('--json', 'print JSON')
    .action(async (options: { tenant?: string; action?: string; limit: string; json?: boolean }) => {
      const page = await (
        await context.store()
      ).audit.list({
        ...(options.tenant ? { tenantId: options.tenant } : {}),
        ...(options.action ? { action: options.action } : {}),
        limit: Number(options.limit) || 50,
      });
      if (options.json) context.json(page.items);
      else
        context.out(
          formatTable(
            ['SEQ', 'AT', 'ACTOR', 'TENANT', 'ACTION', 'TARGET', 'OUTCOME'],
            page.items.map((r) => [
              String(r.seq),
              r.at,
              r.actor,
              r.tenantId ?? '',
              r.action,
              r.target ?? '',
              r.outcome,
            ]),
          ),
        );
    });
}

/** `--before`: an ISO time as given, or an age (90d) counted back from now. */
function archiveCutoff(input: string, now: number): string {
  const trimmed = input.trim();
  const age = parseDurationMs(trimmed);
  if (age !== undefined) return new Date(now - age).toISOString();
  const time = Date.parse(trimmed);
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed) || Number.isNaN(time))
    throw new InvalidInputError('--before: give an ISO 8601 time (2026-01-01T00:00:00Z) or an age such as 90d');
  return new Date(time).toISOString();
}
