// Verifying the audit log's hash chain (the hashing itself is the store's,
// store/audit-chain-hash.ts): walks rows in order and names the first one that was tampered with;
// anchors (`seq:hash`) recorded elsewhere show rows cut off the end.

import { chainHash, GENESIS_HASH } from '../store/audit-chain-hash.js';
import type { AuditRecord } from '../store/store.js';

export interface ChainVerification {
  readonly ok: boolean;
  readonly checked: number;
  /** The last row checked: record it outside the database to detect a cut-off end later. */
  readonly head?: ChainAnchor;
  /** The first row whose hash or link does not match, with what is wrong. */
  readonly firstBroken?: { readonly seq: number; readonly problem: string };
}

/** A row recorded earlier (`seq:hash`): the chain must still hold it, unchanged. */
export interface ChainAnchor {
  readonly seq: number;
  readonly hash: string;
}

/** Reads `seq:hash` as printed by `entitle audit verify`. */
export function parseAnchor(text: string): ChainAnchor | undefined {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  return match ? { seq: Number(match[1]), hash: match[2] as string } : undefined;
}

/**
 * Walks rows in chain order and reports the first one that was tampered with. The chain alone
 * cannot show that rows were removed from its end; an anchor kept elsewhere can.
 */
export class ChainVerifier {
  #expectedPrev = GENESIS_HASH;
  #expectedSeq: number | undefined;
  #checked = 0;
  #head: ChainAnchor | undefined;
  #anchorSeen = false;
  #broken: ChainVerification['firstBroken'];

  /**
   * @param anchor a row recorded earlier that must still be in the chain (or, archived, before `start`)
   * @param start where the rows begin when older ones were archived: the last archived row
   */
  constructor(
    private readonly anchor?: ChainAnchor,
    start?: ChainAnchor,
  ) {
    if (start) {
      this.#expectedPrev = start.hash;
      this.#expectedSeq = start.seq + 1;
      this.#head = start;
      // An anchor at or before the start was archived: the archive file is where it is checked.
      if (anchor && anchor.seq < start.seq) this.#anchorSeen = true;
      if (anchor && anchor.seq === start.seq) {
        if (anchor.hash === start.hash) this.#anchorSeen = true;
        else
          this.#broken = {
            seq: start.seq,
            problem: 'the archive anchor differs from the anchor recorded earlier (the log was rewritten from here)',
          };
      }
    }
  }

  visit(record: AuditRecord): void {
    if (this.#broken) return;
    this.#checked++;
    if (this.#expectedSeq !== undefined && record.seq !== this.#expectedSeq) {
      this.#broken = {
        seq: record.seq,
        problem: `expected row ${this.#expectedSeq} after the archive anchor (rows were removed)`,
      };
      return;
    }
    this.#expectedSeq = undefined;
    if (record.prevHash !== this.#expectedPrev) {
      this.#broken = {
        seq: record.seq,
        problem: 'link to the previous row does not match (a row was removed, inserted or reordered)',
      };
      return;
    }
    if (chainHash(record.prevHash, record) !== record.hash) {
      this.#broken = { seq: record.seq, problem: 'content does not match its hash (the row was changed)' };
      return;
    }
    if (this.anchor && record.seq === this.anchor.seq) {
      if (record.hash !== this.anchor.hash) {
        this.#broken = {
          seq: record.seq,
          problem: 'differs from the anchor recorded earlier (the log was rewritten from here)',
        };
        return;
      }
      this.#anchorSeen = true;
    }
    this.#expectedPrev = record.hash;
    this.#head = { seq: record.seq, hash: record.hash };
  }

  get result(): ChainVerification {
    if (this.#broken) return { ok: false, checked: this.#checked, firstBroken: this.#broken };
    const head = this.#head ? { head: this.#head } : {};
    if (this.anchor && !this.#anchorSeen) {
      return {
        ok: false,
        checked: this.#checked,
        ...head,
        firstBroken: { seq: this.anchor.seq, problem: 'the anchored row is gone (rows were removed from the end)' },
      };
    }
    return { ok: true, checked: this.#checked, ...head };
  }
}
