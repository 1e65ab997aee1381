// The store's contract and the rows it returns. One implementation (sql-store.ts and its
// repositories) runs over two dialects, SQLite and PostgreSQL; nothing above the store knows which
// one it talks to. Every write is one transaction and appends its audit row in that same
// transaction: a rejected write changes nothing, an accepted one is always audited.

import type { CalendarProviderName, EventChange } from './calendar-shapes.js';
import type { SubscriptionState } from './subscription-state.js';
import type { BillingStore } from './repositories/billing.js';
import type { UsageRepository } from './usage-repository.js';
import type { WebhookEndpointStore } from './repositories/webhook-endpoints.js';
import type { WebhookOutboxStore } from './repositories/webhook-outbox.js';
import type { WebhookScanStore } from './repositories/webhook-scans.js';
import type { BillingProviderName, FeatureValue } from '../policy/types.js';

/** A customer organisation. Its plan names a plan of the policy. */
export interface Tenant {
  readonly id: string;
  readonly name: string;
  readonly plan: string;
  /** The version of the plan the tenant is on: the plan's current version when it was put on it. */
  readonly planVersion: number;
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
  /** Default 1. */
  readonly planVersion?: number;
}

/** An add-on a tenant holds, with its quantity. */
export interface TenantAddon {
  readonly tenantId: string;
  readonly addon: string;
  /** At least 1. */
  readonly quantity: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /**
   * The billing subscription whose items give it; absent when an operator set it. A tenant holds
   * the sum of an add-on's rows (the operator's and each subscription's).
   */
  readonly billing?: { readonly provider: BillingProviderName; readonly subscriptionId: string };
}

/** A tenant's add-ons, set and removed one by one, each change audited. */
export interface AddonRepository {
  /** Holds `quantity` of an add-on (replacing the quantity held). Throws TenantNotFoundError. */
  set(
    tenantId: string,
    addon: string,
    quantity: number,
    context: WriteContext,
  ): Promise<{ before: TenantAddon | undefined; after: TenantAddon }>;
  /** Throws AddonNotHeldError. */
  remove(tenantId: string, addon: string, context: WriteContext): Promise<TenantAddon>;
  /** The tenant's add-ons by name: the operator's, then each billing subscription's. */
  list(tenantId: string): Promise<readonly TenantAddon[]>;
}

/** A plan at one version: where a tenant stands. */
export interface PlanPlacement {
  readonly plan: string;
  readonly planVersion: number;
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
  /** Puts the tenant on a plan at a version. Throws TenantNotFoundError. */
  setPlan(id: string, placement: PlanPlacement, context: WriteContext): Promise<{ before: Tenant; after: Tenant }>;
  /** Removes the tenant with everything it owns except its audit rows. Throws TenantNotFoundError. */
  delete(id: string, context: WriteContext): Promise<Tenant>;
  /** How many tenants are on each plan and version (their stored plan): one aggregate query. */
  versionCounts(): Promise<
    readonly { readonly plan: string; readonly planVersion: number; readonly tenants: number }[]
  >;
  /** The ids of the tenants whose stored plan is `plan` at `version`, in byte order. */
  idsOnVersion(plan: string, version: number): Promise<readonly string[]>;
  /**
   * Moves a tenant on `plan` at version `from` to version `to`, with its audit row (`details`
   * says what it loses and gains). Returns the tenant as it was, or undefined when it is no longer
   * on `plan@from` (moved meanwhile): a migration run twice moves each tenant once.
   */
  migrateVersion(
    id: string,
    move: { readonly plan: string; readonly from: number; readonly to: number },
    context: WriteContext,
    details: Readonly<Record<string, unknown>>,
  ): Promise<Tenant | undefined>;
}

export interface OverrideRepository {
  /** Creates or replaces an override. Throws TenantNotFoundError, VersionConflictError. */
  set(
    input: OverrideInput,
    context: WriteContext,
    condition?: WriteCondition,
  ): Promise<{ before: Override | undefined; after: Override }>;
  get(tenantId: string, feature: string): Promise<Override | undefined>;
  list(filter?: { readonly tenantId?: string; readonly feature?: string }): Promise<readonly Override[]>;
  /** Removes an override. Throws OverrideNotFoundError, VersionConflictError. */
  clear(
    tenantId: string,
    feature: string,
    context: WriteContext & { readonly reason?: string },
    condition?: WriteCondition,
  ): Promise<Override>;
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
  /** Appends events in order in one transaction, on the same hash chain (batched sensitive reads); runs no after-write hooks. */
  appendBatch(events: readonly AuditEvent[]): Promise<readonly AuditRecord[]>;
  /** Newest first. */
  list(filter?: AuditFilter): Promise<Page<AuditRecord>>;
  /** Every row in chain order, for verification. */
  scan(visit: (record: AuditRecord) => void): Promise<void>;
  /** Where the rows still stored begin: the last archived row (seq and hash), if any was archived. */
  anchor(): Promise<AuditAnchor | undefined>;
  /**
   * Archives the oldest rows, those written before `before` (ISO time), in one transaction:
   * `sink` gets them in chain order with the anchor they continue from and must have saved them
   * when it resolves; then they are deleted and their last row becomes the new anchor. A sink
   * that throws leaves the store unchanged. At most `limit` rows per call.
   */
  archive(
    before: string,
    sink: (rows: readonly AuditRecord[], from: AuditAnchor | undefined) => Promise<void>,
    options?: { readonly limit?: number },
  ): Promise<AuditArchived>;
}

/** A row of the chain by its position and hash (the last archived row, or a head kept elsewhere). */
export interface AuditAnchor {
  readonly seq: number;
  readonly hash: string;
}

/** What one archive call moved out of the store. */
export interface AuditArchived {
  readonly rows: number;
  /** The new anchor (the last archived row), when rows were archived. */
  readonly anchor?: AuditAnchor;
}

/**
 * What a token may do. member: its own tenant's routes; admin: everything, for any tenant;
 * client: read-only decisions and readings for any tenant, for server-side SDKs (the Unleash
 * client API and OFREP), nothing else; service: an app backend metering its own tenant (consume,
 * refund the consumes it made, reserve, commit, release, read), nothing else. Who may change a
 * meter is one table: usage/usage-authority.ts.
 */
export type Role = 'member' | 'admin' | 'client' | 'service';

/** Every role, in the order messages list them. */
export const ROLES: readonly Role[] = ['member', 'admin', 'client', 'service'];

/** An API token's record. The secret is shown once at creation and stored only as a hash. */
export interface ApiToken {
  readonly id: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly role: Role;
  readonly name: string | null;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
}

export interface NewApiToken {
  readonly id: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly role: Role;
  readonly name: string | null;
  readonly secretHash: string;
  readonly expiresAt: string | null;
}

export interface TokenRepository {
  /** Throws TenantNotFoundError. */
  create(token: NewApiToken, context: WriteContext): Promise<ApiToken>;
  /** The token whose secret has this hash, revoked or not (the caller decides). */
  findBySecretHash(secretHash: string): Promise<ApiToken | undefined>;
  list(filter?: { readonly tenantId?: string }): Promise<readonly ApiToken[]>;
  /** Of these token ids, the ones that still authenticate now (neither revoked, expired nor deleted with their tenant). */
  usable(ids: readonly string[]): Promise<ReadonlySet<string>>;
  /** Throws TokenNotFoundError. */
  revoke(id: string, context: WriteContext): Promise<ApiToken>;
}

/** Counts of one sync of a connection. */
export interface SyncCounts {
  readonly calendars: number;
  readonly added: number;
  readonly updated: number;
  readonly deleted: number;
  readonly fullResync: boolean;
}

/** A user's link to a calendar account. Tokens are not part of it: see ConnectionTokens. */
export interface Connection {
  readonly id: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly provider: CalendarProviderName;
  readonly purpose: string;
  readonly accountEmail: string | null;
  readonly status: 'valid' | 'invalid';
  readonly invalidReason: string | null;
  readonly scopes: readonly string[];
  readonly tokenExpiresAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastSyncAt: string | null;
  readonly lastSync: SyncCounts | null;
}

/** A connection's tokens as stored: ciphertexts (see secrets/token-crypto). */
export interface ConnectionTokens {
  readonly accessToken: string;
  readonly refreshToken: string | null;
  readonly expiresAt: string | null;
}

export interface NewConnection {
  readonly id: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly provider: CalendarProviderName;
  readonly purpose: string;
  readonly accountEmail: string | null;
  readonly scopes: readonly string[];
  /** Encrypts the tokens for the connection's id (the id is part of the ciphertexts' context). */
  readonly sealTokens: (connectionId: string) => ConnectionTokens;
}

/** A stored busy block (see calendar-client BusyBlock). */
export interface StoredBusyBlock {
  readonly connectionId: string;
  readonly calendarId: string;
  readonly eventId: string;
  readonly start: string;
  readonly end: string;
  readonly allDay: boolean;
  readonly showAs: 'busy' | 'tentative' | 'free';
}

/** Every method is scoped to a tenant: a connection of another tenant does not exist. */
export interface ConnectionRepository {
  /**
   * Stores a connection, or refreshes the tokens of the user's existing valid connection to the
   * same account. With `limit`, refuses (LimitReachedError) when the tenant already has `max`
   * valid connections of this purpose — checked inside the write transaction.
   */
  connect(
    connection: NewConnection,
    context: WriteContext,
    limit?: { readonly feature: string; readonly max: number },
  ): Promise<{ connection: Connection; replaced: boolean }>;
  get(tenantId: string, id: string): Promise<Connection | undefined>;
  list(
    tenantId: string,
    filter?: { readonly userId?: string; readonly purpose?: string; readonly status?: 'valid' | 'invalid' },
  ): Promise<readonly Connection[]>;
  tokens(tenantId: string, id: string): Promise<ConnectionTokens | undefined>;
  updateTokens(tenantId: string, id: string, tokens: ConnectionTokens, context: WriteContext): Promise<void>;
  /** Deletes the tokens, sync state and busy blocks, and marks the connection invalid. Throws ConnectionNotFoundError. */
  disconnect(tenantId: string, id: string, context: WriteContext & { readonly reason: string }): Promise<Connection>;
  syncState(tenantId: string, id: string, calendarId: string): Promise<string | null>;
  /** Applies one calendar's sync result and its new sync state in one transaction. */
  applySync(
    tenantId: string,
    id: string,
    calendarId: string,
    result: { readonly changes: readonly EventChange[]; readonly syncState: string; readonly fullSync: boolean },
  ): Promise<Omit<SyncCounts, 'calendars' | 'fullResync'>>;
  /** Records a finished sync (counts over all calendars) and audits it. */
  recordSync(tenantId: string, id: string, counts: SyncCounts, context: WriteContext): Promise<Connection>;
  busyBlocks(tenantId: string, id: string): Promise<readonly StoredBusyBlock[]>;
}

/** A pending OAuth authorization: single-use, short-lived, bound to tenant, user, provider and purpose. */
export interface OAuthState {
  readonly stateHash: string;
  readonly tenantId: string;
  readonly userId: string;
  readonly provider: CalendarProviderName;
  readonly purpose: string;
  readonly redirectUri: string;
  /** Ciphertext of the PKCE code verifier. */
  readonly codeVerifier: string;
  readonly createdAt: string;
  readonly expiresAt: string;
}

export interface OAuthStateRepository {
  create(state: OAuthState, context: WriteContext): Promise<void>;
  /** Removes and returns the state (expired or not): a state can be used once only. */
  consume(stateHash: string): Promise<OAuthState | undefined>;
  /** Removes expired states. */
  purgeExpired(now: string): Promise<number>;
}

/** An encrypted value somewhere in the store, for key rotation. */
export interface StoredSecret {
  readonly kind:
    'connection.access_token' | 'connection.refresh_token' | 'oauth_state.code_verifier' | 'webhook_endpoint.secret';
  /** The connection id, the state hash or the webhook endpoint id. */
  readonly recordId: string;
  readonly ciphertext: string;
}

export interface SecretRepository {
  /**
   * Calls `reencrypt` for every stored secret and writes back what it returns (undefined: keep),
   * all in one transaction. Returns how many were rewritten.
   */
  rotate(reencrypt: (secret: StoredSecret) => string | undefined, context: WriteContext): Promise<number>;
}

/** A tenant's customer in a billing system. */
export interface BillingLink {
  readonly provider: BillingProviderName;
  readonly customerId: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What billing says of a tenant: its link and its subscriptions as last stated. */
export interface TenantBilling {
  readonly link: BillingLink | undefined;
  readonly subscriptions: readonly SubscriptionState[];
}

/** What one tenant means to decisions: its plan, its overrides and its billing. */
export interface TenantSnapshot {
  readonly tenant: Tenant;
  readonly overrides: readonly Override[];
  /** The add-ons it holds (absent: none). */
  readonly addons?: readonly TenantAddon[];
  /** Absent when the tenant has no billing link and no subscription. */
  readonly billing?: TenantBilling;
}

/**
 * How caches follow the store. A cursor marks a point in the store's history; changes since
 * a cursor name the tenants to reload, or say that the history is gone and all must reload.
 */
export interface ChangeFeed {
  /** Every tenant with its overrides, and the cursor they are current at (tools and tests: servers read in pages). */
  loadAll(): Promise<{ cursor: string; tenants: readonly TenantSnapshot[] }>;
  /** The newest point of the history: changes after it are what `since` will name. One indexed read. */
  head(): Promise<string>;
  /** Up to `limit` tenants after `after`, in byte order of id: whoever needs every tenant reads them this way. */
  page(after: string, limit: number): Promise<readonly TenantSnapshot[]>;
  /** The tenants changed since the cursor. */
  since(cursor: string): Promise<{ cursor: string; tenantIds: readonly string[] } | { reload: true }>;
  /** Current state of some tenants; absent ids have been deleted. */
  load(tenantIds: readonly string[]): Promise<readonly TenantSnapshot[]>;
  /**
   * Calls `signal` when another process may have written (SQLite: data_version polling;
   * PostgreSQL: NOTIFY), and `health` when the connection to the store is lost (false) or back
   * (true, before the signal that follows). Returns the function that stops watching.
   */
  watch(signal: () => void, health?: (connected: boolean) => void): () => void;
}

/** The whole store. */
export interface EntitleStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly tenants: TenantRepository;
  readonly overrides: OverrideRepository;
  readonly addons: AddonRepository;
  readonly audit: AuditRepository;
  readonly tokens: TokenRepository;
  readonly connections: ConnectionRepository;
  readonly oauthStates: OAuthStateRepository;
  readonly secrets: SecretRepository;
  /** Usage of meters: counters per period, grants, reservations, idempotent outcomes. */
  readonly usage: UsageRepository;
  readonly changes: ChangeFeed;
  /** Billing links, subscriptions and processed billing events. */
  readonly billing: BillingStore;
  /** Webhook endpoints; the outbox of their events, deliveries and delivery log. */
  readonly webhooks: WebhookEndpointStore;
  readonly outbox: WebhookOutboxStore;
  /** What producers of events with no write of their own read (policy reloads, clocks running out). */
  readonly webhookScans: WebhookScanStore;
  /**
   * Registers work that must finish after every committed write and before the write's
   * promise resolves: this is how a cache is never older than a write that has returned.
   */
  afterWrite(hook: () => Promise<void> | void): () => void;
  close(): Promise<void>;
}
