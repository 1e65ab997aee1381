// The audit log's hash chain, as the store writes it: each row's hash covers its content and the
// previous row's hash, so changing, removing or reordering any row breaks every hash after it.
// The store appends rows with these; audit/audit-chain.ts verifies a chain with the same ones.

import { createHash } from 'node:crypto';
import type { AuditEvent } from './store.js';

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
