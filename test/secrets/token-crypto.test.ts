import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDevKey, openTokenCipher } from '../../src/secrets/encryption-keys.js';
import { TokenCipher, TokenDecryptionError } from '../../src/secrets/token-crypto.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);

describe('TokenCipher', () => {
  const cipher = new TokenCipher(new Map([['k1', k1]]), 'k1');

  it('round-trips a token and stores the key id with a random IV each time', () => {
    const a = cipher.encrypt('ya29.secret-token', 'connection.access_token:c1');
    const b = cipher.encrypt('ya29.secret-token', 'connection.access_token:c1');
    expect(a).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('secret-token');
    expect(cipher.decrypt(a, 'connection.access_token:c1')).toBe('ya29.secret-token');
    expect(TokenCipher.keyIdOf(a)).toBe('k1');
  });

  it('detects a changed ciphertext, tag or IV', () => {
    const envelope = cipher.encrypt('token', 'ctx');
    const parts = envelope.split('.');
    for (const index of [2, 3, 4]) {
      const changed = [...parts];
      const part = changed[index] as string;
      changed[index] = `${part.slice(0, -2)}${part.endsWith('AA') ? 'BB' : 'AA'}`;
      expect(() => cipher.decrypt(changed.join('.'), 'ctx')).toThrow(TokenDecryptionError);
    }
  });

  it('detects a ciphertext moved to another record (its context is bound in)', () => {
    const envelope = cipher.encrypt('token', 'connection.access_token:c1');
    expect(() => cipher.decrypt(envelope, 'connection.access_token:c2')).toThrow(
      'tampered, or bound to another record',
    );
  });

  it('detects a changed key id', () => {
    const both = new TokenCipher(
      new Map([
        ['k1', k1],
        ['k2', k2],
      ]),
      'k1',
    );
    const envelope = both.encrypt('token', 'ctx').replace('v1.k1.', 'v1.k2.');
    expect(() => both.decrypt(envelope, 'ctx')).toThrow(TokenDecryptionError);
    expect(() => cipher.decrypt(envelope, 'ctx')).toThrow('encrypted with key "k2", which is not configured');
  });

  it('decrypts with any configured key and re-encrypts under the active one', () => {
    const old = new TokenCipher(new Map([['k1', k1]]), 'k1');
    const rotated = new TokenCipher(
      new Map([
        ['k1', k1],
        ['k2', k2],
      ]),
      'k2',
    );
    const envelope = old.encrypt('token', 'ctx');
    const fresh = rotated.reencrypt(envelope, 'ctx') as string;
    expect(TokenCipher.keyIdOf(fresh)).toBe('k2');
    expect(rotated.decrypt(fresh, 'ctx')).toBe('token');
    expect(rotated.reencrypt(fresh, 'ctx')).toBeUndefined();
  });

  it('refuses keys of the wrong size and an active key that is not configured', () => {
    expect(() => new TokenCipher(new Map([['k', randomBytes(16)]]), 'k')).toThrow('32 bytes');
    expect(() => new TokenCipher(new Map([['k1', k1]]), 'k9')).toThrow('not among the keys');
  });

  describe('with the development key file', () => {
    it('follows a rotation made by another process (entitle keys rotate --generate) without a restart', () => {
      const databasePath = join(mkdtempSync(join(tmpdir(), 'entitle-keys-')), 'entitle.db');
      const server = openTokenCipher({ keys: new Map(), activeKeyId: undefined }, databasePath);
      const before = server.encrypt('refresh-token', 'ctx');
      // The CLI, in another process: a new active key, and everything re-encrypted under it.
      const cli = addDevKey(databasePath);
      const rotated = cli.reencrypt(before, 'ctx') as string;
      expect(TokenCipher.keyIdOf(rotated)).toBe(cli.activeKeyId);

      expect(server.decrypt(rotated, 'ctx')).toBe('refresh-token');
      // …and what the server writes from then on uses the new key too.
      expect(TokenCipher.keyIdOf(server.encrypt('next', 'ctx'))).toBe(cli.activeKeyId);
    });

    it('still refuses a key id that is in no key source', () => {
      const databasePath = join(mkdtempSync(join(tmpdir(), 'entitle-keys-')), 'entitle.db');
      const server = openTokenCipher({ keys: new Map(), activeKeyId: undefined }, databasePath);
      const forged = server.encrypt('x', 'ctx').replace(/^v1\.[^.]+\./, 'v1.nope.');
      expect(() => server.decrypt(forged, 'ctx')).toThrow(TokenDecryptionError);
    });
  });
});
