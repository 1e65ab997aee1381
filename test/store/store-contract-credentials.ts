// The store contract, continued: API tokens, calendar connections (tokens stored encrypted),
// OAuth states, key rotation and what deleting a tenant takes with it. Called from
// describeStoreContract, so every store runs the same tests.

import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { sealTokens } from '../../src/calendar/connection-tokens.js';
import { rotateSecrets } from '../../src/secrets/rotate-secrets.js';
import { secretContext } from '../../src/secrets/secret-context.js';
import { TokenCipher } from '../../src/secrets/token-crypto.js';
import type { EntitleStore, NewConnection, OAuthState } from '../../src/store/store.js';
import type { StoreHarness } from './store-contract.js';

const ctx = { actor: 'test:operator' };
const newKey = () => randomBytes(32);

export interface ContractState {
  readonly store: EntitleStore;
  readonly harness: StoreHarness;
}

export function describeCredentialContract(current: () => ContractState): void {
  describe('credentials: tokens, connections, OAuth states, keys', () => {
    let store: EntitleStore;
    let cipher: TokenCipher;
    const keyA = newKey();

    beforeEach(async () => {
      ({ store } = current());
      cipher = new TokenCipher(new Map([['key-a', keyA]]), 'key-a');
      await store.tenants.create({ id: 'acme', name: 'Acme', plan: 'pro' }, ctx);
      await store.tenants.create({ id: 'globex', name: 'Globex', plan: 'free' }, ctx);
    });

    const connection = (
      id: string,
      overrides: Partial<NewConnection> = {},
      tokens: { accessToken: string; refreshToken: string | null } = {
        accessToken: `access-${id}-plaintext`,
        refreshToken: `refresh-${id}-plaintext`,
      },
    ): NewConnection => ({
      id,
      tenantId: 'acme',
      userId: 'alice',
      provider: 'google',
      purpose: 'calendar',
      accountEmail: `${id}@example.com`,
      scopes: ['calendar.readonly'],
      sealTokens: (connectionId) =>
        sealTokens(cipher, connectionId, { ...tokens, expiresAt: Date.parse('2030-01-01T01:00:00Z'), scopes: [] }),
      ...overrides,
    });

    const state = (hash: string, expiresAt = '2030-01-01T00:10:00.000Z'): OAuthState => ({
      stateHash: hash,
      tenantId: 'acme',
      userId: 'alice',
      provider: 'google',
      purpose: 'calendar',
      redirectUri: 'https://app.example.com/cb',
      codeVerifier: cipher.encrypt(`verifier-${hash}-plaintext`, secretContext('oauth_state.code_verifier', hash)),
      createdAt: '2030-01-01T00:00:00.000Z',
      expiresAt,
    });

    describe('api tokens', () => {
      it('creates a token, finds it by its hash, lists it under its tenant, and revokes it once', async () => {
        const created = await store.tokens.create(
          {
            id: 'tok1',
            tenantId: 'acme',
            userId: 'alice',
            role: 'admin',
            name: 'ci',
            secretHash: 'a'.repeat(64),
            expiresAt: null,
          },
          ctx,
        );
        expect(created).toEqual({
          id: 'tok1',
          tenantId: 'acme',
          userId: 'alice',
          role: 'admin',
          name: 'ci',
          createdAt: '2030-01-01T00:00:00.000Z',
          expiresAt: null,
          revokedAt: null,
        });
        expect(await store.tokens.findBySecretHash('a'.repeat(64))).toEqual(created);
        expect(await store.tokens.findBySecretHash('b'.repeat(64))).toBeUndefined();
        expect(await store.tokens.list({ tenantId: 'acme' })).toEqual([created]);
        expect(await store.tokens.list({ tenantId: 'globex' })).toEqual([]);
        const revoked = await store.tokens.revoke('tok1', ctx);
        expect(revoked).toEqual({ ...created, revokedAt: '2030-01-01T00:00:00.000Z' });
        // Revoking again keeps the first revocation time.
        expect((await store.tokens.revoke('tok1', ctx)).revokedAt).toBe('2030-01-01T00:00:00.000Z');
        expect(await store.tokens.findBySecretHash('a'.repeat(64))).toEqual(revoked);
        expect((await store.audit.list({ action: 'token.*' })).items.map((row) => row.action)).toEqual([
          'token.revoke',
          'token.revoke',
          'token.create',
        ]);
      });

      it('refuses a token for a missing tenant and a revocation of a missing token, storing nothing', async () => {
        await expect(
          store.tokens.create(
            {
              id: 'tok1',
              tenantId: 'ghost',
              userId: 'u',
              role: 'member',
              name: null,
              secretHash: 'c'.repeat(64),
              expiresAt: null,
            },
            ctx,
          ),
        ).rejects.toMatchObject({
          code: 'ENT_ERR_TENANT_NOT_FOUND',
        });
        await expect(store.tokens.revoke('nope', ctx)).rejects.toMatchObject({
          code: 'ENT_ERR_TOKEN_NOT_FOUND',
          statusCode: 404,
        });
        expect(await store.tokens.list()).toEqual([]);
      });
    });

    describe('calendar connections', () => {
      it('stores tokens only as ciphertexts bound to the connection, which decrypt to the originals', async () => {
        const { connection: stored, replaced } = await store.connections.connect(connection('c1'), ctx);
        expect(replaced).toBe(false);
        expect(stored).toEqual({
          id: 'c1',
          tenantId: 'acme',
          userId: 'alice',
          provider: 'google',
          purpose: 'calendar',
          accountEmail: 'c1@example.com',
          status: 'valid',
          invalidReason: null,
          scopes: ['calendar.readonly'],
          tokenExpiresAt: '2030-01-01T01:00:00.000Z',
          createdAt: '2030-01-01T00:00:00.000Z',
          updatedAt: '2030-01-01T00:00:00.000Z',
          lastSyncAt: null,
          lastSync: null,
        });
        const tokens = await store.connections.tokens('acme', 'c1');
        expect(tokens?.accessToken).toMatch(/^v1\.key-a\./);
        expect(cipher.decrypt(tokens?.accessToken as string, secretContext('connection.access_token', 'c1'))).toBe(
          'access-c1-plaintext',
        );
        expect(cipher.decrypt(tokens?.refreshToken as string, secretContext('connection.refresh_token', 'c1'))).toBe(
          'refresh-c1-plaintext',
        );
        const dump = await current().harness.dump();
        expect(dump).toContain(tokens?.accessToken);
        expect(dump).not.toContain('access-c1-plaintext');
        expect(dump).not.toContain('refresh-c1-plaintext');
      });

      it('refreshes the tokens of the same account instead of adding a connection, and keeps the refresh token when none comes', async () => {
        await store.connections.connect(connection('c1'), ctx);
        const before = await store.connections.tokens('acme', 'c1');
        const again = await store.connections.connect(
          connection('c2', { accountEmail: 'c1@example.com' }, { accessToken: 'access-new', refreshToken: null }),
          ctx,
        );
        expect(again).toMatchObject({ replaced: true, connection: { id: 'c1' } });
        const after = await store.connections.tokens('acme', 'c1');
        expect(cipher.decrypt(after?.accessToken as string, secretContext('connection.access_token', 'c1'))).toBe(
          'access-new',
        );
        expect(after?.refreshToken).toBe(before?.refreshToken);
        expect((await store.connections.list('acme')).map((c) => c.id)).toEqual(['c1']);
      });

      it('refuses a connection over the limit inside the write, storing nothing', async () => {
        await store.connections.connect(connection('c1'), ctx, { feature: 'max', max: 1 });
        await expect(
          store.connections.connect(connection('c2'), ctx, { feature: 'max', max: 1 }),
        ).rejects.toMatchObject({
          code: 'ENT_ERR_LIMIT_REACHED',
          details: { feature: 'max', limit: 1, current: 1 },
        });
        expect((await store.connections.list('acme')).map((c) => c.id)).toEqual(['c1']);
      });

      it('never finds a connection through another tenant', async () => {
        await store.connections.connect(connection('c1'), ctx);
        expect(await store.connections.get('globex', 'c1')).toBeUndefined();
        expect(await store.connections.tokens('globex', 'c1')).toBeUndefined();
        expect(await store.connections.list('globex')).toEqual([]);
        await expect(store.connections.disconnect('globex', 'c1', { ...ctx, reason: 'x' })).rejects.toMatchObject({
          code: 'ENT_ERR_CONNECTION_NOT_FOUND',
        });
        await expect(store.connections.busyBlocks('globex', 'c1')).rejects.toMatchObject({
          code: 'ENT_ERR_CONNECTION_NOT_FOUND',
        });
      });

      it('applies syncs (incremental, then full), keeps the sync state, records the counts, and forgets it all on disconnect', async () => {
        await store.connections.connect(connection('c1'), ctx);
        const block = (eventId: string, start: string) => ({
          eventId,
          start,
          end: start.replace('09:', '10:'),
          allDay: false,
          showAs: 'busy' as const,
        });
        expect(
          await store.connections.applySync('acme', 'c1', 'primary', {
            changes: [
              { type: 'upsert', block: block('e1', '2030-01-02T09:00:00.000Z') },
              { type: 'upsert', block: block('e2', '2030-01-03T09:00:00.000Z') },
            ],
            syncState: 'token-1',
            fullSync: false,
          }),
        ).toEqual({ added: 2, updated: 0, deleted: 0 });
        expect(await store.connections.syncState('acme', 'c1', 'primary')).toBe('token-1');
        // A full sync is the whole truth: e2 is not in it, so it goes.
        expect(
          await store.connections.applySync('acme', 'c1', 'primary', {
            changes: [{ type: 'upsert', block: block('e1', '2030-01-02T09:00:00.000Z') }],
            syncState: 'token-2',
            fullSync: true,
          }),
        ).toEqual({
          added: 0,
          updated: 1,
          deleted: 1,
        });
        expect(await store.connections.busyBlocks('acme', 'c1')).toEqual([
          { connectionId: 'c1', calendarId: 'primary', ...block('e1', '2030-01-02T09:00:00.000Z') },
        ]);
        const counts = { calendars: 1, added: 0, updated: 1, deleted: 1, fullResync: true };
        expect(await store.connections.recordSync('acme', 'c1', counts, ctx)).toMatchObject({
          lastSync: counts,
          lastSyncAt: '2030-01-01T00:00:00.000Z',
        });

        const gone = await store.connections.disconnect('acme', 'c1', { ...ctx, reason: 'user asked' });
        expect(gone).toMatchObject({ status: 'invalid', invalidReason: 'user asked', tokenExpiresAt: null });
        expect(await store.connections.tokens('acme', 'c1')).toBeUndefined();
        expect(await store.connections.busyBlocks('acme', 'c1')).toEqual([]);
        expect(await store.connections.syncState('acme', 'c1', 'primary')).toBeNull();
        expect((await store.connections.list('acme', { status: 'invalid' })).map((c) => c.id)).toEqual(['c1']);
        expect((await store.audit.list({ tenantId: 'acme', action: 'c*' })).items.map((row) => row.action)).toEqual([
          'connection.disconnect',
          'calendar.sync',
          'connection.create',
        ]);
      });
    });

    describe('oauth states', () => {
      it('hands a state out once only, and purges expired ones', async () => {
        const [s1, s2, s3] = [state('s1'), state('s2', '2029-12-31T23:59:59.000Z'), state('s3')];
        await store.oauthStates.create(s1, ctx);
        await store.oauthStates.create(s2, ctx);
        expect(await store.oauthStates.consume('s1')).toEqual(s1);
        expect(await store.oauthStates.consume('s1')).toBeUndefined();
        // Two callbacks racing with one state: one gets it.
        await store.oauthStates.create(s3, ctx);
        const raced = await Promise.all([store.oauthStates.consume('s3'), store.oauthStates.consume('s3')]);
        expect(raced.filter(Boolean)).toEqual([s3]);
        expect(await store.oauthStates.purgeExpired('2030-01-01T00:00:00.000Z')).toBe(1);
        expect(await store.oauthStates.consume('s2')).toBeUndefined();
      });
    });

    describe('key rotation', () => {
      it('re-encrypts every stored secret under the new key in one write, and everything still decrypts', async () => {
        await store.connections.connect(connection('c1'), ctx);
        await store.connections.connect(connection('c2', { userId: 'bob' }), ctx);
        await store.oauthStates.create(state('s1'), ctx);
        const rotated = new TokenCipher(
          new Map([
            ['key-a', keyA],
            ['key-b', newKey()],
          ]),
          'key-b',
        );
        expect(await rotateSecrets(store, rotated, ctx)).toBe(5);
        for (const id of ['c1', 'c2']) {
          const tokens = await store.connections.tokens('acme', id);
          expect(tokens?.accessToken).toMatch(/^v1\.key-b\./);
          expect(rotated.decrypt(tokens?.accessToken as string, secretContext('connection.access_token', id))).toBe(
            `access-${id}-plaintext`,
          );
          expect(rotated.decrypt(tokens?.refreshToken as string, secretContext('connection.refresh_token', id))).toBe(
            `refresh-${id}-plaintext`,
          );
        }
        const consumed = await store.oauthStates.consume('s1');
        expect(
          rotated.decrypt(consumed?.codeVerifier as string, secretContext('oauth_state.code_verifier', 's1')),
        ).toBe('verifier-s1-plaintext');
        // Nothing left under the old key; a second rotation has nothing to do.
        expect(await current().harness.dump()).not.toContain('v1.key-a.');
        expect(await rotateSecrets(store, rotated, ctx)).toBe(0);
        expect((await store.audit.list({ action: 'keys.rotate' })).items.map((row) => row.details)).toEqual([
          { rewritten: 0 },
          { rewritten: 5 },
        ]);
      });

      it('changes nothing when re-encryption fails part-way', async () => {
        await store.connections.connect(connection('c1'), ctx);
        await store.connections.connect(connection('c2', { userId: 'bob' }), ctx);
        const before = await current().harness.dump();
        let calls = 0;
        await expect(
          store.secrets.rotate(() => {
            if (++calls === 3) throw new Error('key store unreachable');
            return 'v1.key-z.rewritten';
          }, ctx),
        ).rejects.toThrow();
        expect(await current().harness.dump()).toBe(before);
      });
    });

    describe('deleting a tenant', () => {
      it('takes its overrides, tokens, connections, busy blocks and OAuth states with it, keeps its audit rows, and leaves other tenants alone', async () => {
        for (const tenantId of ['acme', 'globex']) {
          await store.overrides.set({ tenantId, feature: 'sync', value: true, reason: 'r', expiresAt: null }, ctx);
          await store.tokens.create(
            {
              id: `tok-${tenantId}`,
              tenantId,
              userId: 'alice',
              role: 'member',
              name: null,
              secretHash: `${tenantId}`.padEnd(64, '0'),
              expiresAt: null,
            },
            ctx,
          );
          await store.connections.connect(connection(`conn-${tenantId}`, { tenantId }), ctx);
          await store.connections.applySync(tenantId, `conn-${tenantId}`, 'primary', {
            changes: [
              {
                type: 'upsert',
                block: {
                  eventId: 'e1',
                  start: '2030-01-02T09:00:00.000Z',
                  end: '2030-01-02T10:00:00.000Z',
                  allDay: false,
                  showAs: 'busy',
                },
              },
            ],
            syncState: 'sync-token',
            fullSync: true,
          });
          await store.oauthStates.create({ ...state(`state-${tenantId}`), tenantId }, ctx);
        }
        await store.tenants.delete('acme', ctx);

        expect(await store.overrides.list({ tenantId: 'acme' })).toEqual([]);
        expect(await store.tokens.list({ tenantId: 'acme' })).toEqual([]);
        expect(await store.tokens.findBySecretHash('acme'.padEnd(64, '0'))).toBeUndefined();
        expect(await store.connections.list('acme')).toEqual([]);
        expect(await store.oauthStates.consume('state-acme')).toBeUndefined();
        const dump = await current().harness.dump();
        expect(dump).not.toMatch(/conn-acme[^\n]*primary/); // no busy block or sync state left
        expect(
          (await store.audit.list({ tenantId: 'acme', action: 'tenant.*' })).items.map((row) => row.action),
        ).toEqual(['tenant.delete', 'tenant.create']);

        expect(await store.overrides.list({ tenantId: 'globex' })).toHaveLength(1);
        expect(await store.tokens.list({ tenantId: 'globex' })).toHaveLength(1);
        expect(await store.connections.busyBlocks('globex', 'conn-globex')).toHaveLength(1);
        expect(await store.oauthStates.consume('state-globex')).toMatchObject({ tenantId: 'globex' });
      });
    });
  });
}
