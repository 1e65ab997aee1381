// The audit log's hash chain: each row's hash covers its content and the previous row's
// hash, so changing, removing or reordering any row breaks every hash after it.

import { createHash } from 'node:crypto';
import type { AuditEvent, AuditRecord } from '../store/store.js';

/** The `prevHash` of the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields a row's hash covers, in a fixed order. */
export interface ChainedFields extends AuditEvent {
  readonly seq: number;
  readonly at: string;
}

/** The canonical text of a row's details, as stored and as hashed. */
export function serializeDetails(details: AuditEvent['details']): string | null {
  return details === undefined ? null : JSON.stringify(details);
}

/** The hash of a row given the previous row's hash. */
export function chainHash(prevHash: string, row: ChainedFields): string {
  const canonical = JSON.stringify([
    row.seq,
    row.at,
    row.actor,
    row.tenantId,
    row.action,
    row.target,
    row.outcome,
    serializeDetails(row.details),
  ]);
  return createHash('sha256').update(prevHash).update('\n').update(canonical).digest('hex');
}

export interface ChainVerification {
  readonly ok: boolean;
  readonly checked: number;
  /** The first row whose hash or link does not match, with what is wrong. */
  readonly firstBroken?: { readonly seq: number; readonly problem: string };
}

/** Walks rows in chain order and reports the first one that was tampered with. */
export class ChainVerifier {
  #expectedPrev = GENESIS_HASH;
  #checked = 0;
  #broken: ChainVerification['firstBroken'];

  visit(record: AuditRecord): void {
    if (this.#broken) return;
    this.#checked++;
    if (record.prevHash !== this.#expectedPrev) {
      this.#broken = { seq: record.seq, problem: 'link to the previous row does not match (a row was removed, inserted or reordered)' };
      return;
    }
    if (chainHash(record.prevHash, record) !== record.hash) {
      this.#broken = { seq: record.seq, problem: 'content does not match its hash (the row was changed)' };
      return;
    }
    this.#expectedPrev = record.hash;
  }

  get result(): ChainVerification {
    return this.#broken ? { ok: false, checked: this.#checked, firstBroken: this.#broken } : { ok: true, checked: this.#checked };
  }
}
