// Moving a deployment between stores (SQLite → PostgreSQL): every tenant with its plan and
// overrides, and every valid calendar connection with its tokens still encrypted (the
// ciphertexts are bound to the connection id, which is kept, so the same keys decrypt them).

import type { FeatureValue } from '../policy/types.js';
import type { Connection, ConnectionTokens, EntitleStore, Tenant, WriteContext } from './store.js';

export const DUMP_FORMAT = 'entitle-dump/1';

export interface StoreDump {
  readonly format: typeof DUMP_FORMAT;
  readonly exportedAt: string;
  readonly tenants: readonly {
    readonly tenant: Tenant;
    readonly overrides: readonly { feature: string; value: FeatureValue; reason: string; actor: string; expiresAt: string | null }[];
    readonly connections: readonly { connection: Connection; tokens: ConnectionTokens }[];
  }[];
}

export async function exportStore(store: EntitleStore, now: () => number = Date.now): Promise<StoreDump> {
  const { tenants } = await store.changes.loadAll();
  const out: StoreDump['tenants'][number][] = [];
  for (const { tenant, overrides } of [...tenants].sort((a, b) => (a.tenant.id < b.tenant.id ? -1 : 1))) {
    const connections: { connection: Connection; tokens: ConnectionTokens }[] = [];
    for (const connection of await store.connections.list(tenant.id, { status: 'valid' })) {
      const tokens = await store.connections.tokens(tenant.id, connection.id);
      if (tokens) connections.push({ connection, tokens });
    }
    out.push({
      tenant,
      overrides: overrides.map(({ feature, value, reason, actor, expiresAt }) => ({ feature, value, reason, actor, expiresAt })),
      connections,
    });
  }
  return { format: DUMP_FORMAT, exportedAt: new Date(now()).toISOString(), tenants: out };
}

export interface ImportSummary {
  readonly tenants: number;
  readonly overrides: number;
  readonly connections: number;
  readonly skipped: readonly string[];
}

/** Imports into a store; tenants that already exist there are skipped (and named), never merged. */
export async function importStore(store: EntitleStore, dump: StoreDump, context: WriteContext): Promise<ImportSummary> {
  if (dump.format !== DUMP_FORMAT) throw new Error(`not an Entitle dump (format ${JSON.stringify(dump.format)}, expected ${DUMP_FORMAT})`);
  let tenants = 0;
  let overrides = 0;
  let connections = 0;
  const skipped: string[] = [];
  for (const entry of dump.tenants) {
    if (await store.tenants.get(entry.tenant.id)) {
      skipped.push(entry.tenant.id);
      continue;
    }
    await store.tenants.create({ id: entry.tenant.id, name: entry.tenant.name, plan: entry.tenant.plan }, context);
    tenants++;
    for (const override of entry.overrides) {
      // The original actor stays the override's actor; the import itself is audited as context.actor.
      await store.overrides.set({ tenantId: entry.tenant.id, feature: override.feature, value: override.value, reason: override.reason, expiresAt: override.expiresAt }, { ...context, actor: override.actor });
      overrides++;
    }
    for (const { connection, tokens } of entry.connections) {
      await store.connections.connect(
        {
          id: connection.id,
          tenantId: connection.tenantId,
          userId: connection.userId,
          provider: connection.provider,
          purpose: connection.purpose,
          accountEmail: connection.accountEmail,
          scopes: connection.scopes,
          sealTokens: () => tokens,
        },
        context,
      );
      connections++;
    }
  }
  return { tenants, overrides, connections, skipped };
}
