// API tokens and pending OAuth states on PostgreSQL. Only hashes of secrets are stored.

import { auditEvents } from '../audit-events.js';
import { TenantNotFoundError, TokenNotFoundError } from '../../errors.js';
import type { ApiToken, NewApiToken, OAuthState, OAuthStateRepository, TokenRepository, WriteContext } from '../store.js';
import { oauthStateFromRow, type StateRow } from '../sqlite/sqlite-oauth-states.js';
import { tokenFromRow, type TokenRow } from '../sqlite/sqlite-tokens.js';
import type { PostgresContext } from './postgres-database.js';

export class PostgresTokens implements TokenRepository {
  constructor(private readonly ctx: PostgresContext) {}

  create(token: NewApiToken, context: WriteContext): Promise<ApiToken> {
    return this.ctx.write(async (db) => {
      if ((await db.query('SELECT 1 FROM tenants WHERE id = $1', [token.tenantId])).rowCount === 0) throw new TenantNotFoundError(token.tenantId);
      const createdAt = this.ctx.nowIso();
      const row = (
        await db.query<TokenRow>(
          `INSERT INTO api_tokens (id, tenant_id, user_id, role, name, secret_hash, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
          [token.id, token.tenantId, token.userId, token.role, token.name, token.secretHash, createdAt, token.expiresAt],
        )
      ).rows[0] as TokenRow;
      await this.ctx.appendAudit(db, auditEvents.tokenCreated(context, token));
      return tokenFromRow(row);
    });
  }

  findBySecretHash(secretHash: string): Promise<ApiToken | undefined> {
    return this.ctx.read(async (db) => {
      const row = (await db.query<TokenRow>('SELECT * FROM api_tokens WHERE secret_hash = $1', [secretHash])).rows[0];
      return row ? tokenFromRow(row) : undefined;
    });
  }

  list(filter: { tenantId?: string } = {}): Promise<readonly ApiToken[]> {
    return this.ctx.read(async (db) => {
      const result = filter.tenantId
        ? await db.query<TokenRow>('SELECT * FROM api_tokens WHERE tenant_id = $1 ORDER BY created_at, id', [filter.tenantId])
        : await db.query<TokenRow>('SELECT * FROM api_tokens ORDER BY tenant_id COLLATE "C", created_at, id');
      return result.rows.map(tokenFromRow);
    });
  }

  revoke(id: string, context: WriteContext): Promise<ApiToken> {
    return this.ctx.write(async (db) => {
      const row = (await db.query<TokenRow>('SELECT * FROM api_tokens WHERE id = $1', [id])).rows[0];
      if (!row) throw new TokenNotFoundError(id);
      const revokedAt = row.revoked_at ?? this.ctx.nowIso();
      await db.query('UPDATE api_tokens SET revoked_at = $1 WHERE id = $2', [revokedAt, id]);
      await this.ctx.appendAudit(db, auditEvents.tokenRevoked(context, row.tenant_id, id, row.user_id));
      return { ...tokenFromRow(row), revokedAt };
    });
  }
}


export class PostgresOAuthStates implements OAuthStateRepository {
  constructor(private readonly ctx: PostgresContext) {}

  create(state: OAuthState, context: WriteContext): Promise<void> {
    return this.ctx.write(async (db) => {
      await db.query(
        `INSERT INTO oauth_states (state_hash, tenant_id, user_id, provider, purpose, redirect_uri, code_verifier, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [state.stateHash, state.tenantId, state.userId, state.provider, state.purpose, state.redirectUri, state.codeVerifier, state.createdAt, state.expiresAt],
      );
      await this.ctx.appendAudit(db, auditEvents.oauthInitiated(context, state));
    });
  }

  /** DELETE … RETURNING: two callbacks racing with one state cannot both get it. */
  consume(stateHash: string): Promise<OAuthState | undefined> {
    return this.ctx.write(async (db) => {
      const row = (await db.query<StateRow>('DELETE FROM oauth_states WHERE state_hash = $1 RETURNING *', [stateHash])).rows[0];
      return row ? oauthStateFromRow(row) : undefined;
    });
  }

  purgeExpired(now: string): Promise<number> {
    return this.ctx.write(async (db) => (await db.query('DELETE FROM oauth_states WHERE expires_at <= $1', [now])).rowCount ?? 0);
  }
}
