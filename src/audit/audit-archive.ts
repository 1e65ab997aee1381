// Audit retention: the oldest rows move to a JSON Lines file — a header line with the anchors
// the rows run from and to, then one row per line — and leave the store in the same
// transaction. The file verifies on its own (verifyArchiveFile), and the store's chain verifies
// from the anchor the archive left (verifyAuditLog).

import { createReadStream } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { AuditArchived, AuditRecord, AuditRepository } from '../store/store.js';
import { GENESIS_HASH } from '../store/audit-chain-hash.js';
import { ChainVerifier, type ChainAnchor, type ChainVerification } from './audit-chain.js';

export const ARCHIVE_FORMAT = 'entitle-audit-archive/1';

/** The first line of an archive file. */
export interface ArchiveHeader {
  readonly format: typeof ARCHIVE_FORMAT;
  /** The row the first archived row links to (seq 0 and the genesis hash for the log's start). */
  readonly from: ChainAnchor;
  /** The last archived row: the anchor the store keeps, and the next archive's `from`. */
  readonly to: ChainAnchor;
  readonly rows: number;
  readonly before: string;
  readonly archivedAt: string;
}

/**
 * Archives the rows written before `before` into `path` (written to a temporary file, synced,
 * then renamed: a crash leaves no half file under the name) and deletes them from the store.
 * Nothing is written and nothing deleted when no row is that old.
 */
export async function archiveAudit(
  audit: Pick<AuditRepository, 'archive'>,
  before: string,
  path: string,
  now: () => number = Date.now,
): Promise<AuditArchived> {
  return audit.archive(before, async (rows, from) => {
    const first = rows[0] as AuditRecord;
    const last = rows.at(-1) as AuditRecord;
    const header: ArchiveHeader = {
      format: ARCHIVE_FORMAT,
      from: from ?? { seq: first.seq - 1, hash: first.prevHash },
      to: { seq: last.seq, hash: last.hash },
      rows: rows.length,
      before,
      archivedAt: new Date(now()).toISOString(),
    };
    const temporary = `${path}.partial`;
    const file = await open(temporary, 'wx');
    try {
      await file.writeFile(`${[header, ...rows].map((line) => JSON.stringify(line)).join('\n')}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  });
}

/** The store's chain, from the anchor of the last archive (or the genesis) to its head. */
export async function verifyAuditLog(
  audit: Pick<AuditRepository, 'scan' | 'anchor'>,
  expectHead?: ChainAnchor,
): Promise<ChainVerification> {
  const verifier = new ChainVerifier(expectHead, await audit.anchor());
  await audit.scan((record) => verifier.visit(record));
  return verifier.result;
}

/**
 * An archive file on its own: its rows chain from its `from` anchor to its `to` anchor, unchanged,
 * and end there, as many as its header says. With `expectHead` (the head an earlier verify printed,
 * or the anchor the store kept), the file must end at that row: a header rewritten after cutting
 * rows off the end agrees with the rows left, not with a head kept elsewhere.
 */
export async function verifyArchiveFile(
  path: string,
  expectHead?: ChainAnchor,
): Promise<ChainVerification & { readonly header?: ArchiveHeader }> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let header: ArchiveHeader | undefined;
  let verifier: ChainVerifier | undefined;
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    if (line === '') continue;
    if (!header) {
      header = parseHeader(line);
      if (!header)
        return { ok: false, checked: 0, firstBroken: { seq: 0, problem: `line 1 is not an ${ARCHIVE_FORMAT} header` } };
      // The genesis start has no row before it: the verifier starts from the genesis hash itself.
      verifier = new ChainVerifier(
        header.to,
        header.from.seq === 0 && header.from.hash === GENESIS_HASH ? undefined : header.from,
      );
      continue;
    }
    let record: AuditRecord;
    try {
      record = JSON.parse(line) as AuditRecord;
    } catch {
      return {
        ok: false,
        checked: lineNumber - 2,
        header,
        firstBroken: { seq: 0, problem: `line ${lineNumber} is not JSON` },
      };
    }
    verifier?.visit(record);
  }
  if (!header || !verifier) return { ok: false, checked: 0, firstBroken: { seq: 0, problem: 'the file is empty' } };
  const result = verifier.result;
  if (!result.ok) return { ...result, header };
  const broken = (seq: number, problem: string) => ({
    ok: false,
    checked: result.checked,
    ...(result.head ? { head: result.head } : {}),
    header,
    firstBroken: { seq, problem },
  });
  const last = result.head;
  if (result.checked !== header.rows)
    return broken(header.to.seq, `the header says ${header.rows} rows, the file has ${result.checked}`);
  if (!last || last.seq !== header.to.seq || last.hash !== header.to.hash)
    return broken(
      header.to.seq,
      `the header says the rows end at ${anchorText(header.to)}, they end at ${last ? anchorText(last) : 'nothing'}`,
    );
  if (expectHead && (last.seq !== expectHead.seq || last.hash !== expectHead.hash))
    return broken(
      expectHead.seq,
      `the archive ends at ${anchorText(last)}, not at the expected head ${anchorText(expectHead)} (rows were cut from its end, or it is another archive)`,
    );
  return { ...result, header };
}

const anchorText = (anchor: ChainAnchor): string => `${anchor.seq}:${anchor.hash}`;

function parseHeader(line: string): ArchiveHeader | undefined {
  try {
    const header = JSON.parse(line) as Partial<ArchiveHeader>;
    const anchor = (value: unknown): value is ChainAnchor =>
      typeof value === 'object' &&
      value !== null &&
      Number.isInteger((value as ChainAnchor).seq) &&
      typeof (value as ChainAnchor).hash === 'string';
    return header.format === ARCHIVE_FORMAT && anchor(header.from) && anchor(header.to) && Number.isInteger(header.rows)
      ? (header as ArchiveHeader)
      : undefined;
  } catch {
    return undefined;
  }
}
