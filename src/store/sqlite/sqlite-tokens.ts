// API tokens on SQLite: only the hash of each secret is stored.

import { auditEvents } from '../audit-events.js';
import { TenantNotFoundError, TokenNotFoundError } from '../../errors.js';
import type { ApiToken, NewApiToken, Role, TokenRepository, WriteContext } from '../store.js';
import type { SqliteContext } from './sqlite-database.js';

export interface TokenRow {
  id: string;
  tenant_id: string;
  user_id: string;
  role: string;
  name: string | null;
  secret_hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export function tokenFromRow(row: TokenRow): ApiToken {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    role: row.role as Role,
    name: row.name,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

export class SqliteTokens implements TokenRepository {
  readonly #byId;
  readonly #byHash;
  readonly #insert;
  readonly #revoke;
  readonly #tenantExists;

  constructor(private readonly ctx: SqliteContext) {
    const { db } = ctx;
    this.#byId = db.prepare('SELECT * FROM api_tokens WHERE id = ?');
    this.#byHash = db.prepare('SELECT * FROM api_tokens WHERE secret_hash = ?');
    this.#insert = db.prepare(`INSERT INTO api_tokens (id, tenant_id, user_id, role, name, secret_hash, created_at, expires_at)
      VALUES (@id, @tenantId, @userId, @role, @name, @secretHash, @createdAt, @expiresAt)`);
    this.#revoke = db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ?');
    this.#tenantExists = db.prepare('SELECT 1 FROM tenants WHERE id = ?');
  }

  create(token: NewApiToken, context: WriteContext): Promise<ApiToken> {
    return this.ctx.write(() => {
      if (!this.#tenantExists.get(token.tenantId)) throw new TenantNotFoundError(token.tenantId);
      const createdAt = this.ctx.nowIso();
      this.#insert.run({ ...token, createdAt });
      const created = tokenFromRow(this.#byId.get(token.id) as TokenRow);
      this.ctx.appendAudit(auditEvents.tokenCreated(context, token));
      return created;
    });
  }

  async findBySecretHash(secretHash: string): Promise<ApiToken | undefined> {
    const row = this.#byHash.get(secretHash) as TokenRow | undefined;
    return row ? tokenFromRow(row) : undefined;
  }

  async list(filter: { tenantId?: string } = {}): Promise<readonly ApiToken[]> {
    const rows = filter.tenantId
      ? this.ctx.db.prepare('SELECT * FROM api_tokens WHERE tenant_id = ? ORDER BY created_at, id').all(filter.tenantId)
      : this.ctx.db.prepare('SELECT * FROM api_tokens ORDER BY tenant_id, created_at, id').all();
    return (rows as TokenRow[]).map(tokenFromRow);
  }

  revoke(id: string, context: WriteContext): Promise<ApiToken> {
    return this.ctx.write(() => {
      const row = this.#byId.get(id) as TokenRow | undefined;
      if (!row) throw new TokenNotFoundError(id);
      const revokedAt = row.revoked_at ?? this.ctx.nowIso();
      this.#revoke.run(revokedAt, id);
      this.ctx.appendAudit(auditEvents.tokenRevoked(context, row.tenant_id, id, row.user_id));
      return { ...tokenFromRow(row), revokedAt };
    });
  }
}
