// Key rotation on PostgreSQL: every ciphertext re-encrypted in one transaction.

import { auditEvents } from '../audit-events.js';
import type { SecretRepository, StoredSecret, WriteContext } from '../store.js';
import type { PostgresContext } from './postgres-database.js';

export class PostgresSecrets implements SecretRepository {
  constructor(private readonly ctx: PostgresContext) {}

  rotate(reencrypt: (secret: StoredSecret) => string | undefined, context: WriteContext): Promise<number> {
    return this.ctx.write(async (db) => {
      let rewritten = 0;
      const connections = (await db.query<{ id: string; access_token: string; refresh_token: string | null }>('SELECT id, access_token, refresh_token FROM connections WHERE access_token IS NOT NULL')).rows;
      for (const row of connections) {
        const access = reencrypt({ kind: 'connection.access_token', recordId: row.id, ciphertext: row.access_token });
        if (access !== undefined) {
          await db.query('UPDATE connections SET access_token = $1 WHERE id = $2', [access, row.id]);
          rewritten++;
        }
        if (row.refresh_token === null) continue;
        const refresh = reencrypt({ kind: 'connection.refresh_token', recordId: row.id, ciphertext: row.refresh_token });
        if (refresh !== undefined) {
          await db.query('UPDATE connections SET refresh_token = $1 WHERE id = $2', [refresh, row.id]);
          rewritten++;
        }
      }
      for (const row of (await db.query<{ state_hash: string; code_verifier: string }>('SELECT state_hash, code_verifier FROM oauth_states')).rows) {
        const verifier = reencrypt({ kind: 'oauth_state.code_verifier', recordId: row.state_hash, ciphertext: row.code_verifier });
        if (verifier !== undefined) {
          await db.query('UPDATE oauth_states SET code_verifier = $1 WHERE state_hash = $2', [verifier, row.state_hash]);
          rewritten++;
        }
      }
      await this.ctx.appendAudit(db, auditEvents.keysRotated(context, rewritten));
      return rewritten;
    });
  }
}
