// The SQLite connection every repository shares: pragmas, migrations, write transactions
// with their audit row, and the hooks that run once a write has committed.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { chainHash, GENESIS_HASH, serializeDetails } from '../../audit/audit-chain.js';
import { isClientFacing, StoreUnavailableError } from '../../errors.js';
import type { AuditEvent, AuditRecord } from '../store.js';
import { SQLITE_MIGRATIONS, type Migration } from './migrations.js';

export type SqliteDb = Database.Database;

export interface SqliteOptions {
  /** A file path, or ':memory:' for tests. */
  readonly path: string;
  /** Milliseconds since the epoch; tests pass a fixed clock. */
  readonly clock?: () => number;
}

/** Opens the database file (creating its directory), sets pragmas and applies migrations. */
export function openSqlite(path: string, migrations: readonly Migration[] = SQLITE_MIGRATIONS): SqliteDb {
  if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // In WAL mode NORMAL loses nothing when the process dies; only an OS crash can cost the last commits.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, migrations);
  return db;
}

function migrate(db: SqliteDb, migrations: readonly Migration[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      // Another process may have applied it while we waited for the write lock.
      const done = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(migration.version);
      if (done) return;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
    }).immediate();
  }
}

/** The versions a database has applied, for `entitle migrate`. */
export function appliedMigrations(db: SqliteDb): number[] {
  return db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all() as number[];
}

export interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  tenant_id: string | null;
  action: string;
  target: string | null;
  outcome: string;
  details: string | null;
  prev_hash: string;
  hash: string;
}

/** Maps a stored audit row to its record. */
export function auditRecordFromRow(row: AuditRow): AuditRecord {
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    tenantId: row.tenant_id,
    action: row.action,
    target: row.target,
    outcome: row.outcome as AuditRecord['outcome'],
    ...(row.details === null ? {} : { details: JSON.parse(row.details) as Record<string, unknown> }),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export interface WriteOptions {
  /**
   * false for a write no cache follows (an audit row on its own): the after-write hooks, which
   * re-read tenants and forget API tokens, are not run for it.
   */
  readonly hooks?: boolean;
}

/** Shared state of one open SQLite store. */
export class SqliteContext {
  readonly #hooks = new Set<() => Promise<void> | void>();
  readonly #lastAudit;
  readonly #insertAudit;

  constructor(
    readonly db: SqliteDb,
    readonly clock: () => number,
  ) {
    this.#lastAudit = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    this.#insertAudit = db.prepare(`INSERT INTO audit_log (seq, at, actor, tenant_id, action, target, outcome, details, prev_hash, hash)
      VALUES (@seq, @at, @actor, @tenantId, @action, @target, @outcome, @details, @prevHash, @hash)`);
  }

  nowIso(): string {
    return new Date(this.clock()).toISOString();
  }

  /**
   * Runs `work` in one IMMEDIATE transaction (the write lock is taken up front, so two
   * writers never deadlock upgrading a read lock), then the after-write hooks.
   */
  async write<T>(work: () => T, options: WriteOptions = {}): Promise<T> {
    let result: T;
    try {
      result = this.db.transaction(work).immediate();
    } catch (error) {
      throw translateError(error);
    }
    if (options.hooks !== false) await this.runHooks();
    return result;
  }

  /** Appends an audit row; call it inside {@link write} so the row commits with the change. */
  appendAudit(event: AuditEvent): AuditRecord {
    const last = this.#lastAudit.get() as { seq: number; hash: string } | undefined;
    const seq = (last?.seq ?? 0) + 1;
    const prevHash = last?.hash ?? GENESIS_HASH;
    const at = this.nowIso();
    const fields = { seq, at, ...event };
    const hash = chainHash(prevHash, fields);
    this.#insertAudit.run({
      seq,
      at,
      actor: event.actor,
      tenantId: event.tenantId,
      action: event.action,
      target: event.target,
      outcome: event.outcome,
      details: serializeDetails(event.details),
      prevHash,
      hash,
    });
    return { ...fields, prevHash, hash };
  }

  addHook(hook: () => Promise<void> | void): () => void {
    this.#hooks.add(hook);
    return () => this.#hooks.delete(hook);
  }

  private async runHooks(): Promise<void> {
    for (const hook of this.#hooks) await hook();
  }
}

/** Our own errors pass through; anything the database throws becomes a 503 with no internals. */
export function translateError(error: unknown): Error {
  if (isClientFacing(error)) return error;
  const wrapped = new StoreUnavailableError();
  (wrapped as Error & { cause?: unknown }).cause = error;
  return wrapped;
}
