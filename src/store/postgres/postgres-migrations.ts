// Numbered PostgreSQL migrations, the same schema as SQLite's (timestamps as ISO text, JSON as
// text, so both stores return identical records). Applied at open under an advisory lock, so
// instances starting together do not race. Never edit a shipped migration: add the next one.

import type { Migration } from '../migration.js';

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
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
      );

      CREATE TABLE overrides (
        tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        feature     TEXT NOT NULL,
        value       TEXT NOT NULL,
        reason      TEXT NOT NULL,
        actor       TEXT NOT NULL,
        expires_at  TEXT,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        version     INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, feature)
      );
      CREATE INDEX overrides_by_feature ON overrides(feature);

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
      );
      CREATE INDEX audit_by_tenant ON audit_log(tenant_id, seq);
      CREATE INDEX audit_by_action ON audit_log(action, seq);
      CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

      -- Which tenants changed, in commit order (writes are serialized), and a NOTIFY so every
      -- instance's cache follows within moments. Filled by triggers: no writer can forget it.
      CREATE TABLE changes (
        seq         INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id   TEXT NOT NULL
      );
      CREATE FUNCTION record_tenant_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE changed TEXT;
        BEGIN
          IF TG_TABLE_NAME = 'tenants' THEN changed := COALESCE(NEW.id, OLD.id);
          ELSE changed := COALESCE(NEW.tenant_id, OLD.tenant_id); END IF;
          INSERT INTO changes(tenant_id) VALUES (changed);
          PERFORM pg_notify('entitle_changes', changed);
          RETURN NULL;
        END $$;
      CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE ON tenants
        FOR EACH ROW EXECUTE FUNCTION record_tenant_change();
      CREATE TRIGGER overrides_changed AFTER INSERT OR UPDATE OR DELETE ON overrides
        FOR EACH ROW EXECUTE FUNCTION record_tenant_change();
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
        secret_hash  TEXT NOT NULL UNIQUE,
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT
      );
      CREATE INDEX api_tokens_by_tenant ON api_tokens(tenant_id);
      -- Token revocations must reach every instance's token cache too.
      CREATE FUNCTION notify_token_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('entitle_changes', ''); RETURN NULL; END $$;
      CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON api_tokens
        FOR EACH ROW EXECUTE FUNCTION notify_token_change();

      CREATE TABLE connections (
        id                TEXT PRIMARY KEY,
        tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id           TEXT NOT NULL,
        provider          TEXT NOT NULL,
        purpose           TEXT NOT NULL,
        account_email     TEXT,
        status            TEXT NOT NULL CHECK (status IN ('valid', 'invalid')),
        invalid_reason    TEXT,
        scopes            TEXT NOT NULL,
        access_token      TEXT,
        refresh_token     TEXT,
        token_expires_at  TEXT,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL,
        last_sync_at      TEXT,
        last_sync         TEXT
      );
      CREATE INDEX connections_by_tenant ON connections(tenant_id, user_id, status);

      CREATE TABLE connection_calendars (
        connection_id  TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        calendar_id    TEXT NOT NULL,
        sync_state     TEXT,
        last_sync_at   TEXT,
        PRIMARY KEY (connection_id, calendar_id)
      );

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
      );
      CREATE INDEX busy_blocks_by_tenant ON busy_blocks(tenant_id, start_at);

      CREATE TABLE oauth_states (
        state_hash     TEXT PRIMARY KEY,
        tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        user_id        TEXT NOT NULL,
        provider       TEXT NOT NULL,
        purpose        TEXT NOT NULL,
        redirect_uri   TEXT NOT NULL,
        code_verifier  TEXT NOT NULL,
        created_at     TEXT NOT NULL,
        expires_at     TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'client role for api tokens',
    // The inline CHECK of migration 2 got PostgreSQL's default name.
    sql: `
      ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
      ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('member', 'admin', 'client'));
    `,
  },
  {
    version: 4,
    name: 'audit archive: rows may be deleted (archived), anchors keep the chain going',
    // The chain and the anchors now do what the DELETE trigger did (see the SQLite migration).
    sql: `
      DROP TRIGGER audit_log_no_update ON audit_log;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
      CREATE TABLE audit_anchors (
        seq          INTEGER PRIMARY KEY,
        hash         TEXT NOT NULL,
        archived_at  TEXT NOT NULL,
        rows         INTEGER NOT NULL
      );
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
        used          BIGINT NOT NULL,           -- units taken from the period's allowance
        from_grants   BIGINT NOT NULL,           -- units taken from top-ups
        reserved      BIGINT NOT NULL,           -- units held by open reservations (expired ones reclaimed lazily)
        alerted       INTEGER NOT NULL,          -- highest threshold (80, 100) already audited
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (tenant_id, feature, period_start)
      );

      CREATE TABLE usage_grants (
        id          TEXT PRIMARY KEY,
        tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        feature     TEXT NOT NULL,
        amount      BIGINT NOT NULL,
        remaining   BIGINT NOT NULL CHECK (remaining >= 0),
        reason      TEXT NOT NULL,
        actor       TEXT NOT NULL,
        expires_at  TEXT,
        created_at  TEXT NOT NULL
      );
      CREATE INDEX usage_grants_by_meter ON usage_grants(tenant_id, feature, expires_at);

      CREATE TABLE usage_reservations (
        id            TEXT PRIMARY KEY,
        tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        feature       TEXT NOT NULL,
        period_start  TEXT NOT NULL,
        amount        BIGINT NOT NULL,
        expires_at    TEXT NOT NULL,
        created_at    TEXT NOT NULL
      );
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
      );
      CREATE INDEX usage_idempotency_by_expiry ON usage_idempotency(expires_at);
    `,
  },
  {
    version: 6,
    name: 'billing links, subscriptions and processed events',
    sql: `
      CREATE TABLE billing_links (
        tenant_id    TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
        provider     TEXT NOT NULL,
        customer_id  TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        UNIQUE (provider, customer_id)
      );
      CREATE TABLE billing_subscriptions (
        provider              TEXT NOT NULL,
        id                    TEXT NOT NULL,
        tenant_id             TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        customer_id           TEXT NOT NULL,
        status                TEXT NOT NULL,
        prices                TEXT NOT NULL,
        current_period_end    TEXT,
        cancel_at_period_end  INTEGER NOT NULL,
        trial_end             TEXT,
        past_due_since        TEXT,
        cycle_anchor          TEXT,
        observed_at           TEXT NOT NULL,
        updated_at            TEXT NOT NULL,
        PRIMARY KEY (provider, id)
      );
      CREATE INDEX billing_subscriptions_by_tenant ON billing_subscriptions(tenant_id);
      CREATE TABLE billing_events (
        provider      TEXT NOT NULL,
        id            TEXT NOT NULL,
        type          TEXT NOT NULL,
        tenant_id     TEXT,
        outcome       TEXT NOT NULL,
        processed_at  TEXT NOT NULL,
        PRIMARY KEY (provider, id)
      );

      -- Who runs the billing reconcile now: one instance at a time, a lease that lapses if it dies.
      CREATE TABLE billing_leases (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        expires_at  TEXT NOT NULL
      );
      CREATE TRIGGER billing_links_changed AFTER INSERT OR UPDATE OR DELETE ON billing_links
        FOR EACH ROW EXECUTE FUNCTION record_tenant_change();
      CREATE TRIGGER billing_subscriptions_changed AFTER INSERT OR UPDATE OR DELETE ON billing_subscriptions
        FOR EACH ROW EXECUTE FUNCTION record_tenant_change();
    `,
  },
];
