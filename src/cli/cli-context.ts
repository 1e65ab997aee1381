// What every CLI command shares: output streams, configuration, and the store and policy,
// opened only by the commands that need them.

import { userInfo } from 'node:os';
import type { Config, Env } from '../config.js';
import { readPolicyDirectory } from '../policy/read-policy.js';
import type { PolicySnapshot } from '../policy/types.js';
import { InvalidPolicyError } from '../policy/watch.js';
import { openStore } from '../store/open-store.js';
import type { EntitleStore } from '../store/store.js';
import { DEMO_PLAN, DEMO_TENANT, seedDemoTenant } from '../demo/seed-demo.js';
import { terminalSafe } from './terminal-text.js';
import type { WebhookTargets } from '../webhooks/safe-target.js';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Env;
  readonly cwd: string;
  /** How webhook target hosts resolve (default: the system's DNS; tests give names that reach nothing). */
  readonly webhookTargets?: WebhookTargets;
}

export class CliContext {
  readonly #loadConfig: () => Config;
  #config: Config | undefined;
  #store: EntitleStore | undefined;
  #policy: PolicySnapshot | undefined;

  /** `loadConfig` is called on first need: `entitle --help` works whatever the environment says. */
  constructor(
    readonly io: CliIo,
    loadConfig: () => Config,
  ) {
    this.#loadConfig = loadConfig;
  }

  /** The one typed configuration, as the server reads it (see loadConfig's purpose 'cli'). */
  get config(): Config {
    this.#config ??= this.#loadConfig();
    return this.#config;
  }

  /** Writes a line to stdout, control characters escaped (the text may hold what API callers wrote). */
  out(text: string): void {
    const safe = terminalSafe(text);
    this.io.stdout(safe.endsWith('\n') ? safe : `${safe}\n`);
  }

  json(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  /**
   * The store. Commands about a tenant pass `seedDemo`: in development an empty database then
   * gets the demo tenant first, as the server's first start would give it.
   */
  async store(options: { readonly seedDemo?: boolean } = {}): Promise<EntitleStore> {
    // CLI writes need nothing for webhooks: their audit rows are the outbox the server's worker reads.
    if (!this.#store) this.#store = await openStore(this.config);
    if (options.seedDemo && this.config.seedDemo && (await seedDemoTenant(this.#store, await this.policy()))) {
      this.io.stderr(
        `empty database: created tenant "${DEMO_TENANT}" on plan ${DEMO_PLAN} (development only; ENTITLE_SEED_DEMO=false turns this off)\n`,
      );
    }
    return this.#store;
  }

  /** The policy in force; an invalid policy stops the command with every issue. */
  async policy(): Promise<PolicySnapshot> {
    if (!this.#policy) {
      const result = await readPolicyDirectory(this.config.policyDirectory, this.io.cwd);
      if (!result.ok) throw new InvalidPolicyError(result.issues);
      this.#policy = result.snapshot;
    }
    return this.#policy;
  }

  /** Who the audit log names for CLI writes. */
  actor(explicit?: string): string {
    if (explicit) return explicit;
    let name = 'unknown';
    try {
      name = userInfo().username;
    } catch {
      // No passwd entry (some containers): keep "unknown".
    }
    return `cli:${name}`;
  }

  async close(): Promise<void> {
    await this.#store?.close();
  }
}

/** Rows as aligned columns for a terminal. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
