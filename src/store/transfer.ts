// Moving a deployment between stores (SQLite → PostgreSQL, or to another SQLite file): every
// tenant, override (version and timestamps kept), API token (its hash: tokens keep working),
// calendar connection of every status with its tokens still encrypted (the ciphertexts are
// bound to the connection id, which is kept, so the same keys decrypt them), its sync state and
// busy blocks, billing links, subscriptions and handled events, the whole audit log with
// its hash chain and the anchors of its archives (the rows an archive took are in the archive
// files; the anchor is where the chain left in the store goes on from), and webhook endpoints
// (secrets still sealed, bound to the endpoint id, so the same keys open them) with their
// events, sequences and deliveries, pending ones included (the new deployment sends them). Both stores share one
// schema, so a dump is their rows, table by table, read in one consistent view. An import goes
// into an empty store in one transaction: all of it or nothing. Pending OAuth states
// (minutes-long, single-use) are not moved.

import { InvalidInputError } from '../errors.js';
import type { AuditEvent, EntitleStore, WriteContext } from './store.js';

export const DUMP_FORMAT = 'entitle-dump/2';

/** A stored row: column name → value (text, number or null). */
export type Row = Readonly<Record<string, string | number | null>>;

/** The tables a dump holds, in an order that satisfies every foreign key, with their columns. */
export const DUMP_TABLES = {
  tenants: ['id', 'name', 'plan', 'plan_version', 'created_at', 'updated_at'],
  tenant_addons: ['tenant_id', 'addon', 'quantity', 'created_at', 'updated_at'],
  overrides: ['tenant_id', 'feature', 'value', 'reason', 'actor', 'expires_at', 'created_at', 'updated_at', 'version'],
  api_tokens: ['id', 'tenant_id', 'user_id', 'role', 'name', 'secret_hash', 'created_at', 'expires_at', 'revoked_at'],
  connections: [
    'id',
    'tenant_id',
    'user_id',
    'provider',
    'purpose',
    'account_email',
    'status',
    'invalid_reason',
    'scopes',
    'access_token',
    'refresh_token',
    'token_expires_at',
    'created_at',
    'updated_at',
    'last_sync_at',
    'last_sync',
  ],
  connection_calendars: ['connection_id', 'calendar_id', 'sync_state', 'last_sync_at'],
  busy_blocks: [
    'tenant_id',
    'connection_id',
    'calendar_id',
    'event_id',
    'start_at',
    'end_at',
    'all_day',
    'show_as',
    'updated_at',
  ],
  billing_links: ['tenant_id', 'provider', 'customer_id', 'created_at', 'updated_at'],
  billing_subscriptions: [
    'provider',
    'id',
    'tenant_id',
    'customer_id',
    'status',
    'prices',
    'current_period_end',
    'cancel_at_period_end',
    'cancel_at',
    'trial_end',
    'past_due_since',
    'cycle_anchor',
    'observed_at',
    'updated_at',
  ],
  billing_addons: ['provider', 'subscription_id', 'tenant_id', 'addon', 'quantity', 'created_at', 'updated_at'],
  billing_events: ['provider', 'id', 'type', 'tenant_id', 'outcome', 'processed_at'],
  usage_counters: ['tenant_id', 'feature', 'period_start', 'used', 'from_grants', 'reserved', 'alerted', 'updated_at'],
  usage_grants: ['id', 'tenant_id', 'feature', 'amount', 'remaining', 'reason', 'actor', 'expires_at', 'created_at'],
  usage_reservations: ['id', 'tenant_id', 'feature', 'period_start', 'amount', 'expires_at', 'created_at', 'holder'],
  usage_outcomes: [
    'tenant_id',
    'key',
    'request_hash',
    'operation',
    'feature',
    'period_start',
    'granted',
    'outcome',
    'refunded',
    'refund',
    'created_at',
    'expires_at',
  ],
  audit_anchors: ['seq', 'hash', 'archived_at', 'rows'],
  audit_log: ['seq', 'at', 'actor', 'tenant_id', 'action', 'target', 'outcome', 'details', 'prev_hash', 'hash'],
  // Signing secrets as stored: sealed with the token cipher and bound to the endpoint id.
  webhook_endpoints: [
    'id',
    'url',
    'events',
    'description',
    'secret',
    'previous_secret',
    'previous_secret_until',
    'disabled_at',
    'disabled_reason',
    'failure_streak',
    'created_by',
    'created_at',
    'updated_at',
  ],
  webhook_events: ['id', 'tenant_id', 'type', 'sequence', 'payload', 'created_at'],
  webhook_sequences: ['tenant_id', 'sequence'],
  // No lease columns: a lease is an instance of the old deployment's; a pending delivery arrives unclaimed.
  webhook_deliveries: [
    'id',
    'event_id',
    'endpoint_id',
    'status',
    'attempts',
    'next_attempt_at',
    'last_status',
    'last_error',
    'last_latency_ms',
    'last_attempt_at',
    'created_at',
    'updated_at',
  ],
} as const satisfies Record<string, readonly string[]>;

export type DumpTable = keyof typeof DUMP_TABLES;
/** Tables added after the format was published: a dump written before them has none, read as empty. */
const LATER_TABLES: ReadonlySet<DumpTable> = new Set([
  'billing_links',
  'billing_subscriptions',
  'billing_events',
  'usage_counters',
  'usage_grants',
  'usage_reservations',
  'usage_outcomes',
  // Before anchors travelled: such a dump imports as before (verify fails on it only if its source had archived).
  'audit_anchors',
  'tenant_addons',
  'webhook_endpoints',
  'webhook_events',
  'webhook_sequences',
  'webhook_deliveries',
  'billing_addons',
]);
/** Columns added after the format was published, with the value a dump written before them means. */
export const LATER_COLUMNS: Readonly<Partial<Record<DumpTable, Readonly<Record<string, string | number>>>>> = {
  // Every tenant before plan versions existed was on version 1.
  tenants: { plan_version: 1 },
};
export const DUMP_TABLE_NAMES = Object.keys(DUMP_TABLES) as DumpTable[];

export interface StoreDump {
  readonly format: typeof DUMP_FORMAT;
  readonly exportedAt: string;
  readonly from: EntitleStore['kind'];
  readonly tables: { readonly [T in DumpTable]: readonly Row[] };
}

/** What a store offers for moving its data: implemented by both stores, not part of EntitleStore. */
export interface TableTransfer {
  /**
   * Every row of every dump table, the named columns, in primary key order, all read in one
   * consistent view: an archive committing meanwhile cannot leave the dump's anchors and audit
   * rows from two different moments (a chain that no longer links).
   */
  read(): Promise<StoreDump['tables']>;
  /**
   * In one transaction: refuses (InvalidInputError, {@link notEmptyMessage}) unless the store
   * holds no row of any dump table; inserts every row, table by table; appends `event` to the
   * audit log, after the imported rows (the chain goes on).
   */
  load(tables: StoreDump['tables'], event: AuditEvent): Promise<void>;
}

/** The counts of a dump, by table. */
export type DumpSummary = { readonly [T in DumpTable]: number };

export function transferOf(store: EntitleStore): TableTransfer {
  const transfer = (store as EntitleStore & { transfer?: TableTransfer }).transfer;
  if (!transfer) throw new Error(`the ${store.kind} store cannot export or import`);
  return transfer;
}

export async function exportStore(store: EntitleStore, now: () => number = Date.now): Promise<StoreDump> {
  const tables = await transferOf(store).read();
  return { format: DUMP_FORMAT, exportedAt: new Date(now()).toISOString(), from: store.kind, tables };
}

export function summarize(tables: StoreDump['tables']): DumpSummary {
  return Object.fromEntries(DUMP_TABLE_NAMES.map((table) => [table, tables[table].length])) as DumpSummary;
}

/** Imports a dump into an empty store, all or nothing. Throws InvalidInputError for a bad dump or a store that is not empty. */
export async function importStore(store: EntitleStore, dump: unknown, context: WriteContext): Promise<DumpSummary> {
  const tables = checkDump(dump);
  const summary = summarize(tables);
  await transferOf(store).load(tables, {
    actor: context.actor,
    tenantId: null,
    action: 'store.import',
    target: null,
    outcome: 'success',
    details: {
      from: (dump as StoreDump).from,
      exportedAt: (dump as StoreDump).exportedAt,
      rows: summary,
      ...(context.requestId ? { requestId: context.requestId } : {}),
    },
  });
  return summary;
}

/** The message when the target already holds data. */
export function notEmptyMessage(counts: Readonly<Record<string, number>>): string {
  const held = Object.entries(counts)
    .filter(([, count]) => count > 0)
    .map(([table, count]) => `${count} ${table}`)
    .join(', ');
  return `the target store is not empty (${held}): import needs an empty store; nothing was imported`;
}

/** The dump's tables, checked: the format, every table present, only known columns, scalar values. */
export function checkDump(dump: unknown): StoreDump['tables'] {
  const candidate = dump as Partial<StoreDump> | null;
  if (typeof candidate !== 'object' || candidate === null || candidate.format !== DUMP_FORMAT) {
    throw new InvalidInputError(
      `not an Entitle dump (format ${JSON.stringify(candidate?.format)}, expected ${DUMP_FORMAT}); nothing was imported`,
    );
  }
  const tables = { ...(candidate.tables as Record<string, unknown> | undefined) };
  for (const table of DUMP_TABLE_NAMES) {
    if (tables[table] === undefined && LATER_TABLES.has(table)) tables[table] = [];
    const rows = tables[table];
    if (!Array.isArray(rows)) throw new InvalidInputError(`the dump has no table "${table}"; nothing was imported`);
    const columns = new Set<string>(DUMP_TABLES[table]);
    rows.forEach((row: unknown, index) => {
      if (typeof row !== 'object' || row === null || Array.isArray(row))
        throw new InvalidInputError(`${table}[${index}]: not a row; nothing was imported`);
      for (const [column, value] of Object.entries(row)) {
        if (!columns.has(column))
          throw new InvalidInputError(`${table}[${index}]: unknown column "${column}"; nothing was imported`);
        if (value !== null && typeof value !== 'string' && typeof value !== 'number')
          throw new InvalidInputError(`${table}[${index}].${column}: not a text, number or null; nothing was imported`);
      }
    });
  }
  return tables as StoreDump['tables'];
}
