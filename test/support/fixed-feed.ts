// A change feed over fixed tenant snapshots, with no store: nothing ever changes.

import type { ChangeFeed, TenantSnapshot } from '../../src/store/store.js';

export function fixedFeed(tenants: readonly TenantSnapshot[]): ChangeFeed {
  const byId = new Map(tenants.map((snapshot) => [snapshot.tenant.id, snapshot]));
  const sorted = [...tenants].sort((a, b) => (a.tenant.id < b.tenant.id ? -1 : a.tenant.id > b.tenant.id ? 1 : 0));
  return {
    loadAll: async () => ({ cursor: '0', tenants }),
    head: async () => '0',
    page: async (after, limit) => sorted.filter((snapshot) => snapshot.tenant.id > after).slice(0, limit),
    since: async () => ({ cursor: '0', tenantIds: [] }),
    load: async (ids) => ids.flatMap((id) => byId.get(id) ?? []),
    watch: () => () => undefined,
  };
}
