// API tokens (only the hash of each secret is stored) and pending OAuth states.

import { auditEvents } from '../audit-events.js';
import { TokenNotFoundError } from '../../errors.js';
import type {
  ApiToken,
  NewApiToken,
  OAuthState,
  OAuthStateRepository,
  TokenRepository,
  WriteContext,
} from '../store.js';
import { oauthStateFromRow, tokenFromRow, type StateRow, type TokenRow } from './rows.js';
import type { StoreContext } from './store-context.js';
import { requireTenant } from './tenants.js';

export class TokenStore implements TokenRepository {
  constructor(private readonly ctx: StoreContext) {}

  create(token: NewApiToken, context: WriteContext): Promise<ApiToken> {
    return this.ctx.write(async (tx) => {
      await requireTenant(tx, token.tenantId);
      const row = (await tx.get<TokenRow>(
        `INSERT INTO api_tokens (id, tenant_id, user_id, role, name, secret_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
        [
          token.id,
          token.tenantId,
          token.userId,
          token.role,
          token.name,
          token.secretHash,
          this.ctx.nowIso(),
          token.expiresAt,
        ],
      )) as TokenRow;
      await this.ctx.appendAudit(tx, [auditEvents.tokenCreated(context, token)]);
      return tokenFromRow(row);
    });
  }

  async findBySecretHash(secretHash: string): Promise<ApiToken | undefined> {
    const row = await this.ctx.port.get<TokenRow>('SELECT * FROM api_tokens WHERE secret_hash = $1', [secretHash]);
    return row ? tokenFromRow(row) : undefined;
  }

  async list(filter: { tenantId?: string } = {}): Promise<readonly ApiToken[]> {
    const rows = filter.tenantId
      ? await this.ctx.port.all<TokenRow>('SELECT * FROM api_tokens WHERE tenant_id = $1 ORDER BY created_at, id', [
          filter.tenantId,
        ])
      : await this.ctx.port.all<TokenRow>(
          `SELECT * FROM api_tokens ORDER BY tenant_id${this.ctx.port.sql.byteOrder}, created_at, id`,
        );
    return rows.map(tokenFromRow);
  }

  async usable(ids: readonly string[]): Promise<ReadonlySet<string>> {
    const found = new Set<string>();
    const now = this.ctx.nowIso();
    // In slices: one statement's parameters stay well under both dialects' limits.
    for (let i = 0; i < ids.length; i += 500) {
      const slice = ids.slice(i, i + 500);
      const rows = await this.ctx.port.all<{ id: string }>(
        `SELECT id FROM api_tokens WHERE id IN (${slice.map((_, n) => `$${n + 2}`).join(', ')})
           AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)`,
        [now, ...slice],
      );
      for (const row of rows) found.add(row.id);
    }
    return found;
  }

  revoke(id: string, context: WriteContext): Promise<ApiToken> {
    return this.ctx.write(async (tx) => {
      const row = await tx.get<TokenRow>('SELECT * FROM api_tokens WHERE id = $1', [id]);
      if (!row) throw new TokenNotFoundError(id);
      const revokedAt = row.revoked_at ?? this.ctx.nowIso();
      await tx.run('UPDATE api_tokens SET revoked_at = $1 WHERE id = $2', [revokedAt, id]);
      await this.ctx.appendAudit(tx, [auditEvents.tokenRevoked(context, row.tenant_id, id, row.user_id)]);
      return { ...tokenFromRow(row), revokedAt };
    });
  }
}

export class OAuthStateStore implements OAuthStateRepository {
  constructor(private readonly ctx: StoreContext) {}

  create(state: OAuthState, context: WriteContext): Promise<void> {
    return this.ctx.write(async (tx) => {
      await tx.run(
        `INSERT INTO oauth_states (state_hash, tenant_id, user_id, provider, purpose, redirect_uri, code_verifier, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          state.stateHash,
          state.tenantId,
          state.userId,
          state.provider,
          state.purpose,
          state.redirectUri,
          state.codeVerifier,
          state.createdAt,
          state.expiresAt,
        ],
      );
      await this.ctx.appendAudit(tx, [auditEvents.oauthInitiated(context, state)]);
    });
  }

  /** DELETE … RETURNING: reading and removing are one statement, so two callbacks racing with one state cannot both get it. */
  consume(stateHash: string): Promise<OAuthState | undefined> {
    return this.ctx.write(async (tx) => {
      const row = await tx.get<StateRow>('DELETE FROM oauth_states WHERE state_hash = $1 RETURNING *', [stateHash]);
      return row ? oauthStateFromRow(row) : undefined;
    });
  }

  purgeExpired(now: string): Promise<number> {
    return this.ctx.write(
      async (tx) => (await tx.run('DELETE FROM oauth_states WHERE expires_at <= $1', [now])).changes,
    );
  }
}
