// The store, once for both dialects: every repository over the SQL port a dialect opened, plus
// the dialect's watch (how another process's write is noticed) and its way to close.

import { AuditStore } from './repositories/audit.js';
import { BillingStore } from './repositories/billing.js';
import { ChangeQueries } from './repositories/change-feed.js';
import { ConnectionStore } from './repositories/connections.js';
import { OverrideStore } from './repositories/overrides.js';
import { TenantAddonStore } from './repositories/tenant-addons.js';
import { SecretStore } from './repositories/secrets.js';
import { StoreContext } from './repositories/store-context.js';
import { TableTransferStore } from './repositories/table-transfer.js';
import { TenantStore } from './repositories/tenants.js';
import { OAuthStateStore, TokenStore } from './repositories/tokens.js';
import { UsageStore } from './repositories/usage.js';
import { WebhookEndpointStore } from './repositories/webhook-endpoints.js';
import { WebhookOutboxStore } from './repositories/webhook-outbox.js';
import { WebhookScanStore } from './repositories/webhook-scans.js';
import type { SqlPort } from './sql-port.js';
import type { ChangeFeed, EntitleStore } from './store.js';

export interface SqlStoreParts {
  readonly port: SqlPort;
  /** Milliseconds since the epoch; tests pass a fixed clock. */
  readonly clock?: (() => number) | undefined;
  /** See {@link ChangeFeed.watch}. */
  readonly watch: ChangeFeed['watch'];
  /** Stops what the dialect runs besides the port (the PostgreSQL listener), before the port closes. */
  readonly stop?: () => void;
}

export class SqlStore implements EntitleStore {
  readonly kind: EntitleStore['kind'];
  readonly tenants: TenantStore;
  readonly overrides: OverrideStore;
  readonly addons: TenantAddonStore;
  readonly audit: AuditStore;
  readonly tokens: TokenStore;
  readonly connections: ConnectionStore;
  readonly oauthStates: OAuthStateStore;
  readonly secrets: SecretStore;
  readonly usage: UsageStore;
  readonly changes: ChangeQueries;
  readonly billing: BillingStore;
  /** Webhook endpoints, and the outbox of their events and deliveries. */
  readonly webhooks: WebhookEndpointStore;
  readonly outbox: WebhookOutboxStore;
  readonly webhookScans: WebhookScanStore;
  /** Export and import of whole tables (store/transfer). */
  readonly transfer: TableTransferStore;
  /** The port the repositories run on, for repositories added beside these (usage meters…). */
  readonly port: SqlPort;
  readonly #ctx: StoreContext;
  readonly #stop: (() => void) | undefined;

  constructor(parts: SqlStoreParts) {
    this.port = parts.port;
    this.kind = parts.port.dialect;
    this.#ctx = new StoreContext(parts.port, parts.clock ?? Date.now);
    this.#stop = parts.stop;
    this.tenants = new TenantStore(this.#ctx);
    this.overrides = new OverrideStore(this.#ctx);
    this.addons = new TenantAddonStore(this.#ctx);
    this.audit = new AuditStore(this.#ctx);
    this.tokens = new TokenStore(this.#ctx);
    this.connections = new ConnectionStore(this.#ctx);
    this.oauthStates = new OAuthStateStore(this.#ctx);
    this.secrets = new SecretStore(this.#ctx);
    this.usage = new UsageStore(this.#ctx);
    this.changes = new ChangeQueries(this.#ctx, parts.watch);
    this.billing = new BillingStore(this.#ctx);
    this.webhooks = new WebhookEndpointStore(this.#ctx);
    this.outbox = new WebhookOutboxStore(this.#ctx);
    this.webhookScans = new WebhookScanStore(this.#ctx);
    this.transfer = new TableTransferStore(this.#ctx);
  }

  /** The shared context (clock, audit append, after-write hooks) for repositories added beside these. */
  get context(): StoreContext {
    return this.#ctx;
  }

  afterWrite(hook: () => Promise<void> | void): () => void {
    return this.#ctx.addHook(hook);
  }

  async close(): Promise<void> {
    // Listeners are closed with the store, even when a caller forgets to stop watching.
    this.#stop?.();
    await this.port.close();
  }
}
