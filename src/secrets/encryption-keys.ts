// Where token encryption keys come from: ENTITLE_ENCRYPTION_KEYS, or in development a key file
// beside the database (created on first use, readable by its owner only).

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { EncryptionConfig } from '../config.js';
import { TokenCipher } from './token-crypto.js';

interface KeyFile {
  activeKeyId: string;
  keys: Record<string, string>;
}

/** The development key file for a database path, or undefined for an in-memory database. */
export function devKeyFilePath(databasePath: string): string | undefined {
  return databasePath === ':memory:' ? undefined : join(dirname(databasePath), 'encryption-keys.json');
}

/** A new key as `keyid:base64`, for ENTITLE_ENCRYPTION_KEYS. */
export function generateKeyEntry(
  keyId = `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(2).toString('hex')}`,
): string {
  return `${keyId}:${randomBytes(32).toString('base64')}`;
}

/**
 * The cipher for this configuration: configured keys when there are any; otherwise (development
 * only — production config refuses to start without keys) the dev key file, or a random
 * in-memory key when there is no file to keep it in.
 */
export function openTokenCipher(encryption: EncryptionConfig, databasePath: string): TokenCipher {
  if (encryption.keys.size > 0 && encryption.activeKeyId)
    return new TokenCipher(encryption.keys, encryption.activeKeyId);
  const path = devKeyFilePath(databasePath);
  if (!path) return new TokenCipher(new Map([['ephemeral', randomBytes(32)]]), 'ephemeral');
  const file = readOrCreateKeyFile(path);
  // `entitle keys rotate --generate` adds a key to this file while servers run: they read it again
  // when they meet a ciphertext under a key they do not know yet.
  return new TokenCipher(...ringOf(file), () => {
    const [keys, activeKeyId] = ringOf(readOrCreateKeyFile(path));
    return { keys, activeKeyId };
  });
}

/** Adds a new key to the dev key file and makes it active (for `entitle keys rotate --generate`). */
export function addDevKey(databasePath: string): TokenCipher {
  const path = devKeyFilePath(databasePath);
  if (!path) throw new Error('an in-memory database has no key file');
  const file = readOrCreateKeyFile(path);
  const [id, key] = generateKeyEntry().split(/:(.*)/s) as [string, string];
  file.keys[id] = key;
  file.activeKeyId = id;
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  return cipherFromFile(file);
}

function readOrCreateKeyFile(path: string): KeyFile {
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
  mkdirSync(dirname(path), { recursive: true });
  const file: KeyFile = { activeKeyId: 'dev-1', keys: { 'dev-1': randomBytes(32).toString('base64') } };
  // 'wx' fails if another process created it first; then read theirs.
  try {
    writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return file;
  } catch {
    return JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
  }
}

function ringOf(file: KeyFile): [Map<string, Buffer>, string] {
  return [new Map(Object.entries(file.keys).map(([id, key]) => [id, Buffer.from(key, 'base64')])), file.activeKeyId];
}

function cipherFromFile(file: KeyFile): TokenCipher {
  return new TokenCipher(...ringOf(file));
}
