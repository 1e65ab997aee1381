// Tenant search for operators (by part of the id or name, by plan): reads the store page by
// page in id order and keeps the matches, so the answer pages like the plain list (same cursor).

import type { EntitleStore, Page, Tenant } from '../store/store.js';

/** Store pages read per search call at most: a search over a huge directory answers with a cursor to go on from. */
const MAX_SCANNED_PAGES = 50;
const SCAN_PAGE = 500;

export async function searchTenants(
  store: Pick<EntitleStore, 'tenants'>,
  query: {
    readonly after?: string | undefined;
    readonly limit: number;
    readonly q?: string | undefined;
    readonly plan?: string | undefined;
  },
): Promise<{ items: Tenant[]; nextCursor?: string }> {
  const needle = query.q?.toLowerCase();
  const matches = (tenant: Tenant) =>
    (query.plan === undefined || tenant.plan === query.plan) &&
    (needle === undefined || tenant.id.includes(needle) || tenant.name.toLowerCase().includes(needle));
  const items: Tenant[] = [];
  let after = query.after;
  for (let scanned = 0; scanned < MAX_SCANNED_PAGES; scanned++) {
    const page: Page<Tenant> = await store.tenants.list({ ...(after ? { after } : {}), limit: SCAN_PAGE });
    for (const tenant of page.items) {
      if (!matches(tenant)) continue;
      items.push(tenant);
      if (items.length === query.limit) return { items, nextCursor: tenant.id };
    }
    if (page.nextCursor === undefined) return { items };
    after = page.nextCursor;
  }
  // Not done scanning: the caller continues from where this call stopped.
  return after === undefined ? { items } : { items, nextCursor: after };
}
