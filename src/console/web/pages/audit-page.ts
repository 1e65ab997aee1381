// The audit log: filters, pages, and a check of the hash chain that shows the head to keep.

import { get, query } from '../api.js';
import { field, h, replace, table } from '../dom.js';
import { problem, type PageContext } from '../page.js';
import type { AuditView } from '../views.js';
import { auditRows, AUDIT_HEADERS } from './audit-rows.js';

interface Verification {
  readonly ok: boolean;
  readonly checked: number;
  readonly head?: { readonly seq: number; readonly hash: string };
  readonly firstBroken?: { readonly seq: number; readonly problem: string };
}

/** datetime-local (the reader's time) → ISO 8601, or undefined. */
const isoOf = (local: string) => (local ? new Date(local).toISOString() : undefined);
/** ISO 8601 → datetime-local value. */
const localOf = (iso: string | null) => {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? ''
    : new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

export async function auditPage(context: PageContext): Promise<void> {
  const filters = {
    tenant: context.params.get('tenant') ?? '',
    action: context.params.get('action') ?? '',
    since: context.params.get('since') ?? '',
    until: context.params.get('until') ?? '',
  };
  const after = context.params.get('after') ?? '';
  const page = await get<{ items: AuditView[]; nextCursor?: string }>(
    `/api/admin/audit${query({ ...filters, after, limit: 50 })}`,
  );

  const tenant = h('input', { type: 'text', name: 'tenant', value: filters.tenant });
  const action = h('input', { type: 'text', name: 'action', value: filters.action });
  const since = h('input', { type: 'datetime-local', name: 'since', value: localOf(filters.since || null) });
  const until = h('input', { type: 'datetime-local', name: 'until', value: localOf(filters.until || null) });
  const form = h(
    'form',
    {
      role: 'search',
      'aria-label': 'Audit',
      onsubmit: (event: Event) => {
        event.preventDefault();
        context.navigate(
          `#/audit${query({ tenant: tenant.value.trim(), action: action.value.trim(), since: isoOf(since.value), until: isoOf(until.value) })}`,
        );
      },
    },
    h(
      'div',
      { class: 'row' },
      field('Tenant', tenant),
      field('Action', action, 'e.g. override.set, or override.* for all'),
      field('Since', since),
      field('Until', until),
      h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Filter')),
    ),
  );

  const anchor = h('input', { type: 'text', name: 'anchor', pattern: '[0-9]+:[0-9a-f]{64}', spellcheck: 'false' });
  const verifyResult = h('div', { 'aria-live': 'polite' });
  const verify = h(
    'form',
    {
      onsubmit: async (event: Event) => {
        event.preventDefault();
        replace(verifyResult, h('p', {}, 'Checking the chain…'));
        try {
          const result = await get<Verification>(`/api/admin/audit/verify${query({ anchor: anchor.value.trim() })}`);
          if (result.ok) {
            replace(
              verifyResult,
              h(
                'div',
                { class: 'ok', role: 'alert' },
                h('p', {}, `The chain is intact: ${result.checked} rows checked.`),
                result.head
                  ? h(
                      'p',
                      {},
                      'Head to keep (outside this database, to check against next time): ',
                      h('code', {}, `${result.head.seq}:${result.head.hash}`),
                    )
                  : null,
              ),
            );
          } else {
            replace(
              verifyResult,
              h(
                'p',
                { class: 'alert', role: 'alert' },
                `The chain is broken at row ${result.firstBroken?.seq ?? '?'}: ${result.firstBroken?.problem ?? 'unknown'}.`,
              ),
            );
          }
        } catch (error) {
          replace(verifyResult, h('p', { class: 'alert', role: 'alert' }, `Could not check: ${problem(error)}`));
        }
      },
    },
    field('Head kept from an earlier check (optional)', anchor, 'seq:hash — also detects rows removed from the end.'),
    h('button', { type: 'submit' }, 'Verify the chain'),
  );

  const next = page.nextCursor
    ? h('a', { href: `#/audit${query({ ...filters, after: page.nextCursor })}` }, 'Older rows')
    : null;
  const first = after ? h('a', { href: `#/audit${query(filters)}` }, 'Newest rows') : null;
  replace(
    context.main,
    h('h1', { tabindex: -1 }, 'Audit'),
    form,
    table('Audit rows, newest first', AUDIT_HEADERS, auditRows(page.items), 'no row matches.'),
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, first, next),
    h(
      'section',
      { 'aria-labelledby': 'verify-heading' },
      h('h2', { id: 'verify-heading' }, 'Chain verification'),
      verify,
      verifyResult,
    ),
  );
}
