// Key rotation on SQLite: every ciphertext re-encrypted in one transaction.

import { auditEvents } from '../audit-events.js';
import type { SecretRepository, StoredSecret, WriteContext } from '../store.js';
import type { SqliteContext } from './sqlite-database.js';

export class SqliteSecrets implements SecretRepository {
  constructor(private readonly ctx: SqliteContext) {}

  rotate(reencrypt: (secret: StoredSecret) => string | undefined, context: WriteContext): Promise<number> {
    const { db } = this.ctx;
    return this.ctx.write(() => {
      let rewritten = 0;
      const connections = db.prepare('SELECT id, access_token, refresh_token FROM connections WHERE access_token IS NOT NULL').all() as {
        id: string;
        access_token: string;
        refresh_token: string | null;
      }[];
      const updateAccess = db.prepare('UPDATE connections SET access_token = ? WHERE id = ?');
      const updateRefresh = db.prepare('UPDATE connections SET refresh_token = ? WHERE id = ?');
      for (const row of connections) {
        const access = reencrypt({ kind: 'connection.access_token', recordId: row.id, ciphertext: row.access_token });
        if (access !== undefined) {
          updateAccess.run(access, row.id);
          rewritten++;
        }
        if (row.refresh_token === null) continue;
        const refresh = reencrypt({ kind: 'connection.refresh_token', recordId: row.id, ciphertext: row.refresh_token });
        if (refresh !== undefined) {
          updateRefresh.run(refresh, row.id);
          rewritten++;
        }
      }
      const states = db.prepare('SELECT state_hash, code_verifier FROM oauth_states').all() as { state_hash: string; code_verifier: string }[];
      const updateState = db.prepare('UPDATE oauth_states SET code_verifier = ? WHERE state_hash = ?');
      for (const row of states) {
        const verifier = reencrypt({ kind: 'oauth_state.code_verifier', recordId: row.state_hash, ciphertext: row.code_verifier });
        if (verifier !== undefined) {
          updateState.run(verifier, row.state_hash);
          rewritten++;
        }
      }
      this.ctx.appendAudit(auditEvents.keysRotated(context, rewritten));
      return rewritten;
    });
  }
}
