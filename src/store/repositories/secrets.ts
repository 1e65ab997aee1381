// Key rotation: every ciphertext in the store re-encrypted in one transaction.

import { auditEvents } from '../audit-events.js';
import type { SecretRepository, StoredSecret, WriteContext } from '../store.js';
import type { StoreContext } from './store-context.js';

/** Where each kind of secret lives: table, key column, ciphertext column. */
const PLACES: readonly { kind: StoredSecret['kind']; table: string; key: string; column: string }[] = [
  { kind: 'connection.access_token', table: 'connections', key: 'id', column: 'access_token' },
  { kind: 'connection.refresh_token', table: 'connections', key: 'id', column: 'refresh_token' },
  { kind: 'oauth_state.code_verifier', table: 'oauth_states', key: 'state_hash', column: 'code_verifier' },
  // Both signing secrets of an endpoint are bound to the endpoint (a rotation moves one column to the other).
  { kind: 'webhook_endpoint.secret', table: 'webhook_endpoints', key: 'id', column: 'secret' },
  { kind: 'webhook_endpoint.secret', table: 'webhook_endpoints', key: 'id', column: 'previous_secret' },
];

export class SecretStore implements SecretRepository {
  constructor(private readonly ctx: StoreContext) {}

  rotate(reencrypt: (secret: StoredSecret) => string | undefined, context: WriteContext): Promise<number> {
    return this.ctx.write(async (tx) => {
      let rewritten = 0;
      for (const { kind, table, key, column } of PLACES) {
        const rows = await tx.all<{ record_id: string; ciphertext: string }>(
          `SELECT ${key} AS record_id, ${column} AS ciphertext FROM ${table} WHERE ${column} IS NOT NULL ORDER BY ${key}`,
        );
        for (const row of rows) {
          const ciphertext = reencrypt({ kind, recordId: row.record_id, ciphertext: row.ciphertext });
          if (ciphertext === undefined) continue;
          await tx.run(`UPDATE ${table} SET ${column} = $1 WHERE ${key} = $2`, [ciphertext, row.record_id]);
          rewritten++;
        }
      }
      await this.ctx.appendAudit(tx, [auditEvents.keysRotated(context, rewritten)]);
      return rewritten;
    });
  }
}
