// The store's contract. SQLite implements it now, PostgreSQL later; nothing above the store
// knows which one it talks to. Every write is one transaction and appends its audit row in
// that same transaction: a rejected write changes nothing, an accepted one is always audited.

import type { FeatureValue } from '../policy/types.js';

/** A customer organisation. Its plan names a plan of the policy. */
export interface Tenant {
  readonly id: string;
  readonly name: string;
  readonly plan: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** An operator's per-tenant decision for one feature; it wins over the plan while unexpired. */
export interface Override {
  readonly tenantId: string;
  readonly feature: string;
  readonly value: FeatureValue;
  readonly reason: string;
  readonly actor: string;
  /** ISO 8601; null for an override that never expires. */
  readonly expiresAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Increases on every change: the basis of ETag / If-Match. */
  readonly version: number;
}

/** Who makes a write, for the audit log. */
export interface WriteContext {
  /** For example `user:alice@acme`, `token:ab12…`, `cli:root`. */
  readonly actor: string;
  readonly requestId?: string;
}

export interface NewTenant {
  readonly id: string;
  readonly name: string;
  readonly plan: string;
}

export interface OverrideInput {
  readonly tenantId: string;
  readonly feature: string;
  readonly value: FeatureValue;
  readonly reason: string;
  readonly expiresAt: string | null;
}

/** Optimistic concurrency: the write applies only if the row is still at this version (0: absent). */
export interface WriteCondition {
  readonly ifVersion?: number;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Pass back as `after` for the next page; absent on the last page. */
  readonly nextCursor?: string;
}

export interface TenantRepository {
  /** Creates a tenant; throws TenantExistsError when the id is taken. */
  create(tenant: NewTenant, context: WriteContext): Promise<Tenant>;
  get(id: string): Promise<Tenant | undefined>;
  /** Tenants ordered by id, after the cursor. */
  list(options?: { readonly after?: string; readonly limit?: number }): Promise<Page<Tenant>>;
  /** Throws TenantNotFoundError. */
  setPlan(id: string, plan: string, context: WriteContext): Promise<{ before: Tenant; after: Tenant }>;
  /** Removes the tenant with everything it owns except its audit rows. Throws TenantNotFoundError. */
  delete(id: string, context: WriteContext): Promise<Tenant>;
}

export interface OverrideRepository {
  /** Creates or replaces an override. Throws TenantNotFoundError, VersionConflictError. */
  set(input: OverrideInput, context: WriteContext, condition?: WriteCondition): Promise<{ before: Override | undefined; after: Override }>;
  get(tenantId: string, feature: string): Promise<Override | undefined>;
  list(filter?: { readonly tenantId?: string; readonly feature?: string }): Promise<readonly Override[]>;
  /** Removes an override. Throws OverrideNotFoundError, VersionConflictError. */
  clear(tenantId: string, feature: string, context: WriteContext & { readonly reason?: string }, condition?: WriteCondition): Promise<Override>;
}

export type AuditOutcome = 'success' | 'denied' | 'failure';

/** One audit event before it is chained. */
export interface AuditEvent {
  readonly actor: string;
  readonly tenantId: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly outcome: AuditOutcome;
  /** Before/after, reasons, request ids. Never secrets. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** An audit row as stored: the event, its time and its place in the hash chain. */
export interface AuditRecord extends AuditEvent {
  readonly seq: number;
  readonly at: string;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditFilter {
  readonly tenantId?: string;
  readonly action?: string;
  readonly since?: string;
  readonly until?: string;
  readonly after?: string;
  readonly limit?: number;
}

export interface AuditRepository {
  /** Appends an event that is not part of a write (a denial, a sensitive read). */
  append(event: AuditEvent): Promise<AuditRecord>;
  /** Newest first. */
  list(filter?: AuditFilter): Promise<Page<AuditRecord>>;
  /** Every row in chain order, for verification. */
  scan(visit: (record: AuditRecord) => void): Promise<void>;
}

/** What one tenant means to decisions: its plan and its overrides. */
export interface TenantSnapshot {
  readonly tenant: Tenant;
  readonly overrides: readonly Override[];
}

/**
 * How caches follow the store. A cursor marks a point in the store's history; changes since
 * a cursor name the tenants to reload, or say that the history is gone and all must reload.
 */
export interface ChangeFeed {
  /** Every tenant with its overrides, and the cursor they are current at. */
  loadAll(): Promise<{ cursor: string; tenants: readonly TenantSnapshot[] }>;
  /** The tenants changed since the cursor. */
  since(cursor: string): Promise<{ cursor: string; tenantIds: readonly string[] } | { reload: true }>;
  /** Current state of some tenants; absent ids have been deleted. */
  load(tenantIds: readonly string[]): Promise<readonly TenantSnapshot[]>;
  /**
   * Calls `signal` when another process may have written (SQLite: data_version polling;
   * PostgreSQL: NOTIFY). Returns the function that stops watching.
   */
  watch(signal: () => void): () => void;
}

/** The whole store. */
export interface EntitleStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly tenants: TenantRepository;
  readonly overrides: OverrideRepository;
  readonly audit: AuditRepository;
  readonly changes: ChangeFeed;
  /**
   * Registers work that must finish after every committed write and before the write's
   * promise resolves: this is how a cache is never older than a write that has returned.
   */
  afterWrite(hook: () => Promise<void> | void): () => void;
  close(): Promise<void>;
}
