// The parts of a tenant the console has no special view for (calendar connections today; meters
// and billing as the admin API adds them), shown from the API's answer as it comes.

import { generic, h, table, when, words } from '../dom.js';
import type { TenantDetailView } from '../views.js';

const KNOWN = new Set(['id', 'name', 'plan', 'planVersion', 'createdAt', 'updatedAt', 'addons']);
const TITLES: Record<string, string> = { connections: 'Calendar connections', meters: 'Meters', billing: 'Billing' };

interface MeterLike {
  readonly used: number;
  readonly limit: number | null;
  readonly [field: string]: unknown;
}

function isMeterList(value: unknown): value is MeterLike[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((item) => typeof item === 'object' && item !== null && 'used' in item && 'limit' in item)
  );
}

function section(key: string, value: unknown): HTMLElement {
  const title = TITLES[key] ?? words(key).replace(/^./, (first) => first.toUpperCase());
  if (isMeterList(value)) {
    const rows = value.map((meter) => [
      String(meter.name ?? meter.feature ?? meter.key ?? ''),
      `${meter.used} / ${meter.limit ?? 'unlimited'}`,
      when((meter.resetsAt ?? meter.resetAt ?? null) as string | null, '—'),
    ]);
    return h(
      'section',
      { 'aria-label': title },
      h('h2', {}, title),
      table(title, ['Meter', 'Used / limit', 'Resets'], rows),
    );
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    const link =
      typeof record.url === 'string' && /^https:\/\//.test(record.url)
        ? h(
            'p',
            {},
            h('a', { href: record.url, rel: 'noopener noreferrer', target: '_blank' }, `Open in the billing system`),
          )
        : null;
    return h('section', { 'aria-label': title }, h('h2', {}, title), generic(record), link);
  }
  return h('section', { 'aria-label': title }, h('h2', {}, title), generic(value));
}

/** One section per field of the tenant's answer beyond its identity and plan. */
export function extraSections(tenant: TenantDetailView): HTMLElement[] {
  return Object.entries(tenant)
    .filter(([key]) => !KNOWN.has(key))
    .map(([key, value]) => section(key, value));
}
