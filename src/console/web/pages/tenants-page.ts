// Tenants: search by id or name, filter by plan, a page at a time (the admin API's cursor).

import { get, query } from '../api.js';
import { field, h, replace, table, when } from '../dom.js';
import type { PageContext } from '../page.js';
import type { PolicyView, TenantView } from '../views.js';

const PAGE_SIZE = 25;

export async function tenantsPage(context: PageContext): Promise<void> {
  const q = context.params.get('q') ?? '';
  const plan = context.params.get('plan') ?? '';
  const after = context.params.get('after') ?? '';
  // Earlier pages' cursors, so "Previous page" is a link too.
  const trail = (context.params.get('trail') ?? '')
    .split(',')
    .filter((cursor, index, all) => cursor !== '' || index < all.length - 1);
  const [policy, page] = await Promise.all([
    get<PolicyView>('/api/admin/policy'),
    get<{ items: TenantView[]; nextCursor?: string }>(
      `/api/admin/tenants${query({ q, plan, after, limit: PAGE_SIZE })}`,
    ),
  ]);

  const search = h('input', { type: 'search', name: 'q', value: q });
  const planSelect = h(
    'select',
    { name: 'plan' },
    h('option', { value: '' }, 'Any plan'),
    policy.plans.map((p) =>
      h('option', { value: p.key, selected: p.key === plan }, p.name === p.key ? p.key : `${p.name} (${p.key})`),
    ),
  );
  const form = h(
    'form',
    {
      role: 'search',
      'aria-label': 'Tenants',
      onsubmit: (event: Event) => {
        event.preventDefault();
        context.navigate(`#/tenants${query({ q: search.value.trim(), plan: planSelect.value })}`);
      },
    },
    h(
      'div',
      { class: 'row' },
      field('Id or name contains', search),
      field('Plan', planSelect),
      h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Search')),
    ),
  );

  const rows = page.items.map((tenant) => [
    h('a', { href: `#/tenants/${encodeURIComponent(tenant.id)}` }, tenant.id),
    tenant.name,
    tenant.plan,
    when(tenant.updatedAt),
  ]);
  const previous =
    after === ''
      ? null
      : h(
          'a',
          { href: `#/tenants${query({ q, plan, after: trail.at(-1), trail: trail.slice(0, -1).join(',') })}` },
          'Previous page',
        );
  const next = page.nextCursor
    ? h(
        'a',
        { href: `#/tenants${query({ q, plan, after: page.nextCursor, trail: [...trail, after].join(',') })}` },
        'Next page',
      )
    : null;
  const filtered = q || plan ? ` matching ${[q && `"${q}"`, plan && `plan ${plan}`].filter(Boolean).join(' on ')}` : '';

  replace(
    context.main,
    h('h1', { tabindex: -1 }, 'Tenants'),
    form,
    table(`Tenants${filtered}`, ['Id', 'Name', 'Plan', 'Last changed'], rows, 'no tenant matches.'),
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, previous, next),
  );
  context.announce(`${page.items.length} tenants shown${page.nextCursor ? ', more on the next page' : ''}`);
}
