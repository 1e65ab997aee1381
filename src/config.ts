// Environment → one typed, validated Config. Nothing else reads process.env.

import { resolve } from 'node:path';

/** Where the store and the policy live: shared by the server and the CLI. */
export interface StorageConfig {
  /** SQLite file (default data/entitle.db). */
  readonly databasePath: string;
  /** Directory of policy files (default policies/). */
  readonly policyDirectory: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** A configuration problem that stops the start, naming the variable to fix. */
export class ConfigError extends Error {
  readonly code = 'ENT_ERR_CONFIG';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads ENTITLE_DB and ENTITLE_POLICIES; relative paths are relative to the working directory. */
export function loadStorageConfig(env: Env = process.env, cwd: string = process.cwd()): StorageConfig {
  const databasePath = env.ENTITLE_DB?.trim() || 'data/entitle.db';
  return {
    databasePath: databasePath === ':memory:' ? databasePath : resolve(cwd, databasePath),
    policyDirectory: resolve(cwd, env.ENTITLE_POLICIES?.trim() || 'policies'),
  };
}
