// The numbered migrations, written once for both dialects: each dialect fills in the few words it
// says its own way (SchemaDialect) and applies them in order at open. SQLite keeps each CREATE
// statement's text in its schema, so a shipped statement keeps its words, spacing and comments.
// Never edit a migration that has shipped: add the next number.

import type { Migration, MigrationSource, SchemaDialect } from './migration.js';

/** Migration 3's role check: SDK and service tokens get the client role beside member and admin. */
const CLIENT_ROLE = "role IN ('member', 'admin', 'client')";
/** Migration 9's role check: app backends that meter their own tenant get the service role. */
const SERVICE_ROLE = "role IN ('member', 'admin', 'client', 'service')";

/** The api_tokens table with a role check, as migrations 3 and 9 rebuild it on SQLite. */
const apiTokens = (d: SchemaDialect, check: string) => ({
  table: 'api_tokens',
  constraint: 'api_tokens_role_check',
  check,
  createTable: (name: string) => `
      CREATE TABLE ${name} (
        id           TEXT PRIMARY KEY,
        tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id      TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (${check}),
        name         TEXT,
        secret_hash  TEXT NOT NULL UNIQUE,  -- SHA-256 of the secret; the secret itself is never stored
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT
      )${d.strict};`,
  columns: ['id', 'tenant_id', 'user_id', 'role', 'name', 'secret_hash', 'created_at', 'expires_at', 'revoked_at'],
  indexes: 'CREATE INDEX api_tokens_by_tenant ON api_tokens(tenant_id);',
});

/** Every migration, in order: its number, its name, and its DDL in the words of a dialect `d`. */
export const MIGRATIONS: readonly MigrationSource[] = [
  {
    version: 1,
    name: 'tenants, overrides, audit log, change feed',
    up: (d) => `
      CREATE TABLE tenants (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        plan        TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      )${d.strict};

      CREATE TABLE overrides (
        tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        feature     TEXT NOT NULL,
        value       TEXT NOT NULL,            -- JSON: true, 3, "priority"
        reason      TEXT NOT NULL,
        actor       TEXT NOT NULL,
        expires_at  TEXT,                     -- ISO 8601, NULL = never
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        version     INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, feature)
      )${d.strict};
      CREATE INDEX overrides_by_feature ON overrides(feature);

      -- Append-only, hash-chained. No foreign key: a deleted tenant's history stays.
      CREATE TABLE audit_log (
        seq         INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        actor       TEXT NOT NULL,
        tenant_id   TEXT,
        action      TEXT NOT NULL,
        target      TEXT,
        outcome     TEXT NOT NULL,
        details     TEXT,
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL
      )${d.strict};
      CREATE INDEX audit_by_tenant ON audit_log(tenant_id, seq);
      CREATE INDEX audit_by_action ON audit_log(action, seq);
      ${d.auditAppendOnly}

      -- Which tenants changed, in commit order, so every process's cache can follow.
      -- Filled by triggers: no writer (the server, the CLI, a shell) can forget it.
      CREATE TABLE changes (
        seq         ${d.serialKey},
        tenant_id   TEXT NOT NULL
      )${d.strict};
      ${d.changeFeed}
      ${d.changesOn('tenants', 'id')}
      ${d.changesOn('overrides', 'tenant_id')}
    `,
  },
  {
    version: 2,
    name: 'api tokens, calendar connections, busy blocks, oauth states',
    up: (d) => `
      CREATE TABLE api_tokens (
        id           TEXT PRIMARY KEY,
        tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id      TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (role IN ('member', 'admin')),
        name         TEXT,
        secret_hash  TEXT NOT NULL UNIQUE,  -- SHA-256 of the secret; the secret itself is never stored
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT
      )${d.strict};
      CREATE INDEX api_tokens_by_tenant ON api_tokens(tenant_id);
      ${d.tokenChanges}

      CREATE TABLE connections (
        id                TEXT PRIMARY KEY,
        tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id           TEXT NOT NULL,
        provider          TEXT NOT NULL,
        purpose           TEXT NOT NULL,
        account_email     TEXT,
        status            TEXT NOT NULL CHECK (status IN ('valid', 'invalid')),
        invalid_reason    TEXT,
        scopes            TEXT NOT NULL,      -- JSON array
        access_token      TEXT,               -- ciphertext (token-crypto), NULL once disconnected
        refresh_token     TEXT,               -- ciphertext
        token_expires_at  TEXT,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL,
        last_sync_at      TEXT,
        last_sync         TEXT                -- JSON counts of the last sync
      )${d.strict};
      CREATE INDEX connections_by_tenant ON connections(tenant_id, user_id, status);

      CREATE TABLE connection_calendars (
        connection_id  TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        calendar_id    TEXT NOT NULL,
        sync_state     TEXT,
        last_sync_at   TEXT,
        PRIMARY KEY (connection_id, calendar_id)
      )${d.strict};

      CREATE TABLE busy_blocks (
        tenant_id      TEXT NOT NULL,
        connection_id  TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        calendar_id    TEXT NOT NULL,
        event_id       TEXT NOT NULL,
        start_at       TEXT NOT NULL,
        end_at         TEXT NOT NULL,
        all_day        INTEGER NOT NULL,
        show_as        TEXT NOT NULL,
        updated_at     TEXT NOT NULL,
        PRIMARY KEY (connection_id, calendar_id, event_id)
      )${d.strict};
      CREATE INDEX busy_blocks_by_tenant ON busy_blocks(tenant_id, start_at);

      CREATE TABLE oauth_states (
        state_hash     TEXT PRIMARY KEY,      -- SHA-256 of the state; the state itself is never stored
        tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id        TEXT NOT NULL,
        provider       TEXT NOT NULL,
        purpose        TEXT NOT NULL,
        redirect_uri   TEXT NOT NULL,
        code_verifier  TEXT NOT NULL,         -- ciphertext
        created_at     TEXT NOT NULL,
        expires_at     TEXT NOT NULL
      )${d.strict};
    `,
  },
  {
    version: 3,
    name: 'client role for api tokens',
    up: (d) =>
      d.changeCheck({
        table: 'api_tokens',
        constraint: 'api_tokens_role_check',
        check: CLIENT_ROLE,
        createTable: (name) => `
      CREATE TABLE ${name} (
        id           TEXT PRIMARY KEY,
        tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id      TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (${CLIENT_ROLE}),
        name         TEXT,
        secret_hash  TEXT NOT NULL UNIQUE,  -- SHA-256 of the secret; the secret itself is never stored
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT
      )${d.strict};`,
        columns: [
          'id',
          'tenant_id',
          'user_id',
          'role',
          'name',
          'secret_hash',
          'created_at',
          'expires_at',
          'revoked_at',
        ],
        indexes: 'CREATE INDEX api_tokens_by_tenant ON api_tokens(tenant_id);',
      }),
  },
  {
    version: 4,
    name: 'audit archive: rows may be deleted (archived), anchors keep the chain going',
    // The chain and the anchors now do what the DELETE trigger did: an archived prefix ends in an
    // anchor (its last row's seq and hash), the next row links to it, and verify starts there.
    up: (d) => `
      ${d.auditArchivable}
      CREATE TABLE audit_anchors (
        seq          INTEGER PRIMARY KEY,   -- the last archived row
        hash         TEXT NOT NULL,
        archived_at  TEXT NOT NULL,
        rows         INTEGER NOT NULL
      )${d.strict};
      CREATE INDEX audit_by_at ON audit_log(at);
    `,
  },
  {
    version: 5,
    name: 'metered usage: counters per period, grants, reservations, idempotent answers',
    up: (d) => `
      CREATE TABLE usage_counters (
        tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        feature       TEXT NOT NULL,
        period_start  TEXT NOT NULL,             -- ISO start of the period; past periods are kept
        used          ${d.bigint} NOT NULL,           -- units taken from the period's allowance
        from_grants   ${d.bigint} NOT NULL,           -- units taken from top-ups
        reserved      ${d.bigint} NOT NULL,           -- units held by open reservations (expired ones reclaimed lazily)
        alerted       INTEGER NOT NULL,          -- highest threshold (80, 100) already audited
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (tenant_id, feature, period_start)
      )${d.strict};

      CREATE TABLE usage_grants (
        id          TEXT PRIMARY KEY,
        tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        feature     TEXT NOT NULL,
        amount      ${d.bigint} NOT NULL,
        remaining   ${d.bigint} NOT NULL CHECK (remaining >= 0),
        reason      TEXT NOT NULL,
        actor       TEXT NOT NULL,
        expires_at  TEXT,
        created_at  TEXT NOT NULL
      )${d.strict};
      CREATE INDEX usage_grants_by_meter ON usage_grants(tenant_id, feature, expires_at);

      CREATE TABLE usage_reservations (
        id            TEXT PRIMARY KEY,
        tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        feature       TEXT NOT NULL,
        period_start  TEXT NOT NULL,
        amount        ${d.bigint} NOT NULL,
        expires_at    TEXT NOT NULL,
        created_at    TEXT NOT NULL
      )${d.strict};
      CREATE INDEX usage_reservations_by_meter ON usage_reservations(tenant_id, feature, period_start, expires_at);
      CREATE INDEX usage_reservations_by_expiry ON usage_reservations(expires_at);

      CREATE TABLE usage_idempotency (
        tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        key           TEXT NOT NULL,
        request_hash  TEXT NOT NULL,             -- SHA-256 of the request: the same key with another body is a conflict
        status        INTEGER NOT NULL,
        answer        TEXT NOT NULL,             -- the first answer, JSON
        created_at    TEXT NOT NULL,
        expires_at    TEXT NOT NULL,
        PRIMARY KEY (tenant_id, key)
      )${d.strict};
      CREATE INDEX usage_idempotency_by_expiry ON usage_idempotency(expires_at);
    `,
  },
  {
    version: 6,
    name: 'billing links, subscriptions and processed events',
    up: (d) => `
      -- A tenant's customer in a billing system: one customer is one tenant.
      CREATE TABLE billing_links (
        tenant_id    TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
        provider     TEXT NOT NULL,
        customer_id  TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        UNIQUE (provider, customer_id)
      )${d.strict};

      -- Each subscription as last stated by the billing system; observed_at orders statements.
      CREATE TABLE billing_subscriptions (
        provider              TEXT NOT NULL,
        id                    TEXT NOT NULL,
        tenant_id             TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        customer_id           TEXT NOT NULL,
        status                TEXT NOT NULL,
        prices                TEXT NOT NULL,   -- JSON list of price ids and lookup keys
        current_period_end    TEXT,
        cancel_at_period_end  INTEGER NOT NULL,
        trial_end             TEXT,
        past_due_since        TEXT,
        cycle_anchor          TEXT,
        observed_at           TEXT NOT NULL,
        updated_at            TEXT NOT NULL,
        PRIMARY KEY (provider, id)
      )${d.strict};
      CREATE INDEX billing_subscriptions_by_tenant ON billing_subscriptions(tenant_id);

      -- Every billing event handled, with its outcome: a redelivery is answered from here.
      CREATE TABLE billing_events (
        provider      TEXT NOT NULL,
        id            TEXT NOT NULL,
        type          TEXT NOT NULL,
        tenant_id     TEXT,
        outcome       TEXT NOT NULL,
        processed_at  TEXT NOT NULL,
        PRIMARY KEY (provider, id)
      )${d.strict};

      -- Who runs the billing reconcile now: one instance at a time, a lease that lapses if it dies.
      CREATE TABLE billing_leases (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        expires_at  TEXT NOT NULL
      )${d.strict};
      ${d.changesOn('billing_links', 'tenant_id')}
      ${d.changesOn('billing_subscriptions', 'tenant_id')}
    `,
  },
  {
    version: 7,
    name: 'scheduled cancellation of a billing subscription',
    up: () => `
      -- When a scheduled cancellation ends the subscription (Stripe's cancel_at); NULL when none is.
      ALTER TABLE billing_subscriptions ADD COLUMN cancel_at TEXT;
    `,
  },
  {
    version: 8,
    name: 'plan versions and tenant add-ons',
    up: (d) => `
      -- The version of its plan a tenant is on; every tenant before versions existed is on version 1.
      ALTER TABLE tenants ADD COLUMN plan_version INTEGER NOT NULL DEFAULT 1;

      -- Add-ons a tenant holds beside its plan, with a quantity.
      CREATE TABLE tenant_addons (
        tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        addon       TEXT NOT NULL,
        quantity    INTEGER NOT NULL CHECK (quantity > 0),
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (tenant_id, addon)
      )${d.strict};
      ${d.changesOn('tenant_addons', 'tenant_id')}
    `,
  },
  {
    version: 9,
    name: 'usage authority: service role, reservation holders, idempotent outcomes instead of answers',
    // Outcomes replace answers: a key's record is the domain outcome (figures and sources, what a
    // refund undoes), no longer an HTTP body. Answers recorded before the upgrade are not carried
    // over: a retry of such a key within its 24 hours counts as a new request.
    up: (d) => `${d.changeCheck(apiTokens(d, SERVICE_ROLE))}
      ALTER TABLE usage_reservations ADD COLUMN holder TEXT;   -- who made it: a member ends its own only

      DROP TABLE usage_idempotency;
      CREATE TABLE usage_outcomes (
        tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        key           TEXT NOT NULL,
        request_hash  TEXT NOT NULL,             -- SHA-256 of the request: the same key with another body is a conflict
        operation     TEXT NOT NULL CHECK (operation IN ('consume', 'reserve')),
        feature       TEXT NOT NULL,
        period_start  TEXT NOT NULL,
        granted       INTEGER NOT NULL,
        outcome       TEXT NOT NULL,             -- JSON: the figures after it, the sources or the reservation
        refunded      ${d.bigint},                    -- units a refund of this consume gave back (once); NULL: none
        refund        TEXT,                      -- JSON: what that refund gave back, the figures after it
        created_at    TEXT NOT NULL,
        expires_at    TEXT NOT NULL,
        PRIMARY KEY (tenant_id, key)
      )${d.strict};
      CREATE INDEX usage_outcomes_by_expiry ON usage_outcomes(expires_at);
    `,
  },
  {
    version: 10,
    name: 'webhook endpoints, outbox and deliveries',
    up: (d) => `
      -- Where events are sent. The secret signs them; the previous one too, until previous_secret_until.
      CREATE TABLE webhook_endpoints (
        id                     TEXT PRIMARY KEY,
        url                    TEXT NOT NULL,
        events                 TEXT NOT NULL,   -- JSON list of event types
        description            TEXT NOT NULL,
        secret                 TEXT NOT NULL,
        previous_secret        TEXT,
        previous_secret_until  TEXT,
        disabled_at            TEXT,
        disabled_reason        TEXT,
        failure_streak         INTEGER NOT NULL,
        created_by             TEXT NOT NULL,
        created_at             TEXT NOT NULL,
        updated_at             TEXT NOT NULL
      )${d.strict};
      CREATE INDEX webhook_endpoints_by_creator ON webhook_endpoints(created_by);

      -- The outbox: each event once, written in the transaction of the change that caused it.
      -- No foreign key: tenant.deleted outlives its tenant.
      CREATE TABLE webhook_events (
        id          TEXT PRIMARY KEY,           -- the webhook-id header, the same on every try
        tenant_id   TEXT NOT NULL,
        type        TEXT NOT NULL,
        sequence    ${d.bigint} NOT NULL,       -- per tenant, increasing
        payload     TEXT NOT NULL,              -- the JSON body as sent
        created_at  TEXT NOT NULL
      )${d.strict};

      -- The last sequence number of each tenant's events.
      CREATE TABLE webhook_sequences (
        tenant_id  TEXT PRIMARY KEY,
        sequence   ${d.bigint} NOT NULL
      )${d.strict};

      -- One row per event and endpoint: pending until delivered or failed; a lease says who is sending it.
      CREATE TABLE webhook_deliveries (
        id               TEXT PRIMARY KEY,
        event_id         TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
        endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
        status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts         INTEGER NOT NULL,
        next_attempt_at  TEXT,
        lease_holder     TEXT,
        lease_until      TEXT,
        last_status      INTEGER,
        last_error       TEXT,
        last_latency_ms  INTEGER,
        last_attempt_at  TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
      )${d.strict};
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
      CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id, created_at);
    `,
  },
  {
    version: 12,
    name: 'webhook events of changes with no write of their own: policy reload epochs, counters by period',
    up: (d) => `
      -- The policy version whose reload was announced last, and its epoch: every instance that
      -- notices the same reload reads the same epoch, so their events get the same ids; a version
      -- that comes back after another gets a new epoch and is announced again.
      CREATE TABLE webhook_policy_reloads (
        name        TEXT PRIMARY KEY,   -- 'policy'
        version     TEXT NOT NULL,
        epoch       ${d.bigint} NOT NULL,
        updated_at  TEXT NOT NULL
      )${d.strict};

      -- The meter.reset sweep reads the counters of the periods that ended since it last looked, in pages.
      CREATE INDEX usage_counters_by_period ON usage_counters(feature, period_start, tenant_id);
    `,
  },
  {
    version: 13,
    name: 'add-ons held through billing subscription items',
    up: (d) => `
      -- Add-ons a billing subscription's items give its tenant: billing replaces a subscription's
      -- rows on each statement of it; an operator's add-ons (tenant_addons) are never touched.
      CREATE TABLE billing_addons (
        provider         TEXT NOT NULL,
        subscription_id  TEXT NOT NULL,
        tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        addon            TEXT NOT NULL,
        quantity         INTEGER NOT NULL CHECK (quantity > 0),
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL,
        PRIMARY KEY (provider, subscription_id, addon)
      )${d.strict};
      CREATE INDEX billing_addons_by_tenant ON billing_addons(tenant_id);
      ${d.changesOn('billing_addons', 'tenant_id')}
    `,
  },
];

/** Every migration, in the words of dialect `d`. */
export const migrationsFor = (d: SchemaDialect): readonly Migration[] =>
  MIGRATIONS.map(({ version, name, up }) => ({ version, name, sql: up(d) }));
