// Pending OAuth authorizations on SQLite: created at initiation, consumed once at the callback.

import { auditEvents } from '../audit-events.js';
import type { CalendarProviderName } from '../../calendar/calendar-client.js';
import type { OAuthState, OAuthStateRepository, WriteContext } from '../store.js';
import type { SqliteContext } from './sqlite-database.js';

export interface StateRow {
  state_hash: string;
  tenant_id: string;
  user_id: string;
  provider: string;
  purpose: string;
  redirect_uri: string;
  code_verifier: string;
  created_at: string;
  expires_at: string;
}

export function oauthStateFromRow(row: StateRow): OAuthState {
  return {
    stateHash: row.state_hash,
    tenantId: row.tenant_id,
    userId: row.user_id,
    provider: row.provider as CalendarProviderName,
    purpose: row.purpose,
    redirectUri: row.redirect_uri,
    codeVerifier: row.code_verifier,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

export class SqliteOAuthStates implements OAuthStateRepository {
  readonly #insert;
  readonly #consume;
  readonly #purge;

  constructor(private readonly ctx: SqliteContext) {
    const { db } = ctx;
    this.#insert = db.prepare(`INSERT INTO oauth_states (state_hash, tenant_id, user_id, provider, purpose, redirect_uri, code_verifier, created_at, expires_at)
      VALUES (@stateHash, @tenantId, @userId, @provider, @purpose, @redirectUri, @codeVerifier, @createdAt, @expiresAt)`);
    // DELETE … RETURNING: reading and removing are one statement, so two callbacks racing with
    // the same state cannot both get it.
    this.#consume = db.prepare('DELETE FROM oauth_states WHERE state_hash = ? RETURNING *');
    this.#purge = db.prepare('DELETE FROM oauth_states WHERE expires_at <= ?');
  }

  create(state: OAuthState, context: WriteContext): Promise<void> {
    return this.ctx.write(() => {
      this.#insert.run(state);
      this.ctx.appendAudit(auditEvents.oauthInitiated(context, state));
    });
  }

  consume(stateHash: string): Promise<OAuthState | undefined> {
    return this.ctx.write(() => {
      const row = this.#consume.get(stateHash) as StateRow | undefined;
      return row ? oauthStateFromRow(row) : undefined;
    });
  }

  purgeExpired(now: string): Promise<number> {
    return this.ctx.write(() => this.#purge.run(now).changes);
  }
}
