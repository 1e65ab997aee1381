// Numbered SQLite migrations, applied in order at open, each in its own transaction.
// Never edit a migration that has shipped: add the next number.

import type { Migration } from '../migration.js';

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'tenants, overrides, audit log, change feed',
    sql: `
      CREATE TABLE tenants (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        plan        TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      ) STRICT;

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
      ) STRICT;
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
      ) STRICT;
      CREATE INDEX audit_by_tenant ON audit_log(tenant_id, seq);
      CREATE INDEX audit_by_action ON audit_log(action, seq);
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

      -- Which tenants changed, in commit order, so every process's cache can follow.
      -- Filled by triggers: no writer (the server, the CLI, a shell) can forget it.
      CREATE TABLE changes (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id   TEXT NOT NULL
      ) STRICT;
      CREATE TRIGGER tenants_changed_insert AFTER INSERT ON tenants
        BEGIN INSERT INTO changes(tenant_id) VALUES (NEW.id); END;
      CREATE TRIGGER tenants_changed_update AFTER UPDATE ON tenants
        BEGIN INSERT INTO changes(tenant_id) VALUES (NEW.id); END;
      CREATE TRIGGER tenants_changed_delete AFTER DELETE ON tenants
        BEGIN INSERT INTO changes(tenant_id) VALUES (OLD.id); END;
      CREATE TRIGGER overrides_changed_insert AFTER INSERT ON overrides
        BEGIN INSERT INTO changes(tenant_id) VALUES (NEW.tenant_id); END;
      CREATE TRIGGER overrides_changed_update AFTER UPDATE ON overrides
        BEGIN INSERT INTO changes(tenant_id) VALUES (NEW.tenant_id); END;
      CREATE TRIGGER overrides_changed_delete AFTER DELETE ON overrides
        BEGIN INSERT INTO changes(tenant_id) VALUES (OLD.tenant_id); END;
    `,
  },
  {
    version: 2,
    name: 'api tokens, calendar connections, busy blocks, oauth states',
    sql: `
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
      ) STRICT;
      CREATE INDEX api_tokens_by_tenant ON api_tokens(tenant_id);

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
      ) STRICT;
      CREATE INDEX connections_by_tenant ON connections(tenant_id, user_id, status);

      CREATE TABLE connection_calendars (
        connection_id  TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        calendar_id    TEXT NOT NULL,
        sync_state     TEXT,
        last_sync_at   TEXT,
        PRIMARY KEY (connection_id, calendar_id)
      ) STRICT;

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
      ) STRICT;
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
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'client role for api tokens',
    // SQLite cannot alter a CHECK constraint: the table is rebuilt, inside this migration's
    // transaction (nothing references api_tokens, so foreign keys may stay on).
    sql: `
      CREATE TABLE api_tokens_new (
        id           TEXT PRIMARY KEY,
        tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id      TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (role IN ('member', 'admin', 'client')),
        name         TEXT,
        secret_hash  TEXT NOT NULL UNIQUE,  -- SHA-256 of the secret; the secret itself is never stored
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT
      ) STRICT;
      INSERT INTO api_tokens_new (id, tenant_id, user_id, role, name, secret_hash, created_at, expires_at, revoked_at)
        SELECT id, tenant_id, user_id, role, name, secret_hash, created_at, expires_at, revoked_at FROM api_tokens;
      DROP TABLE api_tokens;
      ALTER TABLE api_tokens_new RENAME TO api_tokens;
      CREATE INDEX api_tokens_by_tenant ON api_tokens(tenant_id);
    `,
  },
  {
    version: 4,
    name: 'audit archive: rows may be deleted (archived), anchors keep the chain going',
    // The chain and the anchors now do what the DELETE trigger did: an archived prefix ends in an
    // anchor (its last row's seq and hash), the next row links to it, and verify starts there.
    sql: `
      DROP TRIGGER audit_log_no_delete;
      CREATE TABLE audit_anchors (
        seq          INTEGER PRIMARY KEY,   -- the last archived row
        hash         TEXT NOT NULL,
        archived_at  TEXT NOT NULL,
        rows         INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX audit_by_at ON audit_log(at);
    `,
  },
  {
    version: 5,
    name: 'metered usage: counters per period, grants, reservations, idempotent answers',
    sql: `
      CREATE TABLE usage_counters (
        tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        feature       TEXT NOT NULL,
        period_start  TEXT NOT NULL,             -- ISO start of the period; past periods are kept
        used          INTEGER NOT NULL,           -- units taken from the period's allowance
        from_grants   INTEGER NOT NULL,           -- units taken from top-ups
        reserved      INTEGER NOT NULL,           -- units held by open reservations (expired ones reclaimed lazily)
        alerted       INTEGER NOT NULL,          -- highest threshold (80, 100) already audited
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (tenant_id, feature, period_start)
      ) STRICT;

      CREATE TABLE usage_grants (
        id          TEXT PRIMARY KEY,
        tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        feature     TEXT NOT NULL,
        amount      INTEGER NOT NULL,
        remaining   INTEGER NOT NULL CHECK (remaining >= 0),
        reason      TEXT NOT NULL,
        actor       TEXT NOT NULL,
        expires_at  TEXT,
        created_at  TEXT NOT NULL
      ) STRICT;
      CREATE INDEX usage_grants_by_meter ON usage_grants(tenant_id, feature, expires_at);

      CREATE TABLE usage_reservations (
        id            TEXT PRIMARY KEY,
        tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        feature       TEXT NOT NULL,
        period_start  TEXT NOT NULL,
        amount        INTEGER NOT NULL,
        expires_at    TEXT NOT NULL,
        created_at    TEXT NOT NULL
      ) STRICT;
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
      ) STRICT;
      CREATE INDEX usage_idempotency_by_expiry ON usage_idempotency(expires_at);
    `,
  },
  {
    version: 6,
    name: 'billing links, subscriptions and processed events',
    sql: `
      -- A tenant's customer in a billing system: one customer is one tenant.
      CREATE TABLE billing_links (
        tenant_id    TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
        provider     TEXT NOT NULL,
        customer_id  TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        UNIQUE (provider, customer_id)
      ) STRICT;

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
      ) STRICT;
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
      ) STRICT;

      -- Who runs the billing reconcile now: one instance at a time, a lease that lapses if it dies.
      CREATE TABLE billing_leases (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        expires_at  TEXT NOT NULL
      ) STRICT;

      CREATE TRIGGER billing_links_changed_insert AFTER INSERT ON billing_links
        BEGIN INSERT INTO changes(tenant_id) VALUES (NEW.tenant_id); END;
      CREATE TRIGGER billing_links_changed_update AFTER UPDATE ON billing_links
        BEGIN INSERT INTO changes(tenant_id) VALUES (NEW.tenant_id); END;
      CREATE TRIGGER billing_links_changed_delete AFTER DELETE ON billing_links
        BEGIN INSERT INTO changes(tenant_id) VALUES (OLD.tenant_id); END;
      CREATE TRIGGER billing_subscriptions_changed_insert AFTER INSERT ON billing_subscriptions
        BEGIN INSERT INTO changes(tenant_id) VALUES (NEW.tenant_id); END;
      CREATE TRIGGER billing_subscriptions_changed_update AFTER UPDATE ON billing_subscriptions
        BEGIN INSERT INTO changes(tenant_id) VALUES (NEW.tenant_id); END;
      CREATE TRIGGER billing_subscriptions_changed_delete AFTER DELETE ON billing_subscriptions
        BEGIN INSERT INTO changes(tenant_id) VALUES (OLD.tenant_id); END;
    `,
  },
];
