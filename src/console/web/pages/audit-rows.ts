// Audit rows as table cells, shared by the audit page and a tenant's trail.

import { h, when } from '../dom.js';
import type { AuditView } from '../views.js';

export const AUDIT_HEADERS = ['When', 'Who', 'Action', 'Target', 'Outcome', 'Details'];

/** A row's details in words: before → after for changes, else the fields. */
function detailsText(details: Record<string, unknown> | undefined): string {
  if (!details) return '';
  return Object.entries(details)
    .filter(([key]) => key !== 'requestId')
    .map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
    .join('; ');
}

export function auditRows(items: readonly AuditView[]) {
  return items.map((row) => [
    when(row.at),
    row.actor,
    row.action,
    row.target ?? '',
    row.outcome,
    h('span', { class: 'details' }, detailsText(row.details)),
  ]);
}
