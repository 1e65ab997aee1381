// A fresh app per test: in-memory SQLite, the starter policy (or another), no logs.

import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { buildApp, type BuildAppOptions } from '../../src/app.js';
import { issueApiToken } from '../../src/auth/api-tokens.js';
import { loadConfig, type Env } from '../../src/config.js';
import type { Role } from '../../src/store/store.js';
import { STARTER_POLICY_DIR } from './policy.js';

/** Limits far above any test's load: for tests about something else that send many requests. */
export const NO_RATE_LIMITS = {
  ENTITLE_RATE_LIMIT_ADMIN: '9999999',
  ENTITLE_RATE_LIMIT_OAUTH: '9999999',
  ENTITLE_RATE_LIMIT_CALENDAR: '9999999',
  ENTITLE_RATE_LIMIT_DECISIONS: '9999999',
  ENTITLE_RATE_LIMIT_USAGE: '9999999',
  ENTITLE_RATE_LIMIT_AUTH_FAILURES: '9999999',
} as const;

export interface TestApp {
  readonly app: FastifyInstance;
  /** Creates the tenant when needed and returns a bearer token for one of its users. */
  token(tenantId: string, userId?: string, options?: { plan?: string; role?: Role }): Promise<string>;
  /** `{ authorization: 'Bearer …' }` for app.inject. */
  auth(token: string): { authorization: string };
  close(): Promise<void>;
}

export interface TestAppOptions {
  readonly env?: Env;
  readonly clock?: () => number;
  readonly logger?: BuildAppOptions['logger'];
  /** The built console to serve (browser tests build one of their own). */
  readonly consoleDirectory?: string;
  /** Extra routes to register before the app is ready (for plugin tests). */
  readonly routes?: (app: FastifyInstance) => void;
}

export async function buildTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  // With DATABASE_URL set, every app test runs on PostgreSQL too, each app in a schema of its
  // own; tests that name an SQLite file (ENTITLE_DB) are about SQLite and stay on it.
  const postgres =
    process.env.DATABASE_URL && options.env?.ENTITLE_DB === undefined
      ? { url: process.env.DATABASE_URL, schema: `entitle_app_${randomBytes(6).toString('hex')}` }
      : undefined;
  const config = loadConfig({
    ENTITLE_DB: ':memory:',
    ENTITLE_POLICIES: STARTER_POLICY_DIR,
    ENTITLE_SEED_DEMO: 'false',
    // Audit rows of reads and denials written before the response, so a test can read them at once
    // (batching has its own tests).
    ENTITLE_AUDIT_READS_WINDOW_MS: '0',
    ...(postgres ? { DATABASE_URL: postgres.url, DATABASE_SCHEMA: postgres.schema } : {}),
    // CI runs suites with a tiny directory (fewer tenants in memory than the tests use).
    ...(process.env.ENTITLE_DIRECTORY_MAX_TENANTS
      ? { ENTITLE_DIRECTORY_MAX_TENANTS: process.env.ENTITLE_DIRECTORY_MAX_TENANTS }
      : {}),
    ...options.env,
  });
  // An app that fails to start (tests of bad options do that on purpose) leaves no schema behind.
  const dropOwnSchema = async () => {
    if (postgres) await dropSchema(postgres.url, postgres.schema);
  };
  let app: FastifyInstance;
  try {
    app = await buildApp({
      config,
      logger: options.logger ?? false,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.consoleDirectory ? { consoleDirectory: options.consoleDirectory } : {}),
    });
  } catch (error) {
    await dropOwnSchema();
    throw error;
  }
  try {
    options.routes?.(app);
    await app.ready();
  } catch (error) {
    await app.close();
    await dropOwnSchema();
    throw error;
  }
  const { store, operations } = app.entitle;
  return {
    app,
    async token(tenantId, userId = 'alice', { plan = 'free', role = 'member' } = {}) {
      if (!(await store.tenants.get(tenantId)))
        await operations.createTenant({ id: tenantId, plan }, { actor: 'test:setup' });
      return (await issueApiToken(store, { tenantId, userId, role }, { actor: 'test:setup' })).token;
    },
    auth: (token) => ({ authorization: `Bearer ${token}` }),
    close: async () => {
      await app.close();
      await dropOwnSchema();
    },
  };
}

/** Drops a test's PostgreSQL schema with everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
