// PostgreSQL's words for the shared migrations (src/store/migrations/): BIGINT and identity
// columns, and PL/pgSQL trigger functions that also NOTIFY other instances of each change.

import type { SchemaDialect } from '../migrations/migration.js';
import { migrationsFor } from '../migrations/migrations.js';

export const POSTGRES_DDL: SchemaDialect = {
  strict: '',
  bigint: 'BIGINT',
  serialKey: 'INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
  auditAppendOnly: `CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();`,
  auditArchivable: `DROP TRIGGER audit_log_no_update ON audit_log;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();`,
  // Commit order holds because writes are serialized; the NOTIFY has every instance's cache follow within moments.
  changeFeed: `CREATE FUNCTION record_tenant_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE changed TEXT;
        BEGIN
          IF TG_TABLE_NAME = 'tenants' THEN changed := COALESCE(NEW.id, OLD.id);
          ELSE changed := COALESCE(NEW.tenant_id, OLD.tenant_id); END IF;
          INSERT INTO changes(tenant_id) VALUES (changed);
          PERFORM pg_notify('entitle_changes', changed);
          RETURN NULL;
        END $$;`,
  // record_tenant_change finds the tenant column itself (id on tenants, tenant_id elsewhere).
  changesOn: (table) => `CREATE TRIGGER ${table}_changed AFTER INSERT OR UPDATE OR DELETE ON ${table}
        FOR EACH ROW EXECUTE FUNCTION record_tenant_change();`,
  // Token revocations must reach every instance's token cache too.
  tokenChanges: `CREATE FUNCTION notify_token_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('entitle_changes', ''); RETURN NULL; END $$;
      CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON api_tokens
        FOR EACH ROW EXECUTE FUNCTION notify_token_change();`,
  changeCheck: ({ table, constraint, check }) => `
      ALTER TABLE ${table} DROP CONSTRAINT ${constraint};
      ALTER TABLE ${table} ADD CONSTRAINT ${constraint} CHECK (${check});`,
};

/** Applied at open under an advisory lock (postgres-port.ts), so instances starting together do not race. */
export const POSTGRES_MIGRATIONS = migrationsFor(POSTGRES_DDL);
