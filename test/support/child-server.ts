// The real server in a child process (for crash and load tests): started from the sources of
// this run (transpiled once by global-setup.ts), its address and demo tokens read from what it
// prints, killable with any signal.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * How to run one of src/'s entry points (`server.ts`, `cli/entitle.ts`) with node: the sources
 * as global-setup.ts transpiled them for this run, or through tsx when there is no such build
 * (a run without the suite's global setup).
 */
export function entryArgs(entry: string): string[] {
  const built = join(ROOT, '.test-dist', entry.replace(/\.ts$/, '.js'));
  return existsSync(built) ? [built] : ['--import', 'tsx', join(ROOT, 'src', entry)];
}

export interface ChildServer {
  readonly url: string;
  readonly output: () => string;
  /** Where the first start wrote its tokens (ENTITLE_FIRST_START_TOKENS_FILE). */
  readonly tokensFile: string;
  /** Printed only on the first start of an empty database. */
  readonly adminToken: string | undefined;
  readonly userToken: string | undefined;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the server. `preload`: modules (paths from the repository root) imported before the
 * server, e.g. a test's fault injection (TypeScript ones run the server from source).
 */
export async function startChildServer(
  env: Record<string, string>,
  timeoutMs = 60_000,
  preload: readonly string[] = [],
): Promise<ChildServer> {
  // The first start's tokens never reach the output (a log): with no terminal (detached, below),
  // the server writes them to this file.
  const tokensFile = join(mkdtempSync(join(tmpdir(), 'entitle-tokens-')), 'tokens.txt');
  // From source through tsx when a test preloads a TypeScript module of its own: it must patch
  // the very modules the server runs. A plain JavaScript preload (.mjs) patches nothing of the
  // server's and runs before the built server, which starts seconds sooner.
  const imports = preload.flatMap((path) => ['--import', `./${path}`]);
  const args = preload.some((path) => path.endsWith('.ts'))
    ? ['--import', 'tsx', ...imports, 'src/server.ts']
    : [...imports, ...entryArgs('server.ts')];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    // SQLite unless a test asks otherwise: crash tests read the database file afterwards. Never
    // the repository's data/ directory: without ENTITLE_DB, a database (and dev key file) of its own.
    env: {
      ...process.env,
      DATABASE_URL: '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ENTITLE_DB: join(mkdtempSync(join(tmpdir(), 'entitle-child-')), 'entitle.db'),
      ENTITLE_FIRST_START_TOKENS_FILE: tokensFile,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A session of its own: no controlling terminal, as under a service manager.
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const poll = setInterval(() => {
      const match = /Entitle is listening on (http:\/\/[^\s]+)/.exec(output);
      if (match) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    }, 20);
    void exited.then(() => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`server exited during start:\n${output}`));
    });
  });
  const tokens = existsSync(tokensFile) ? readFileSync(tokensFile, 'utf8') : '';
  return {
    url,
    output: () => output,
    tokensFile,
    adminToken: /operator:\s+(ent_\S+)/.exec(tokens)?.[1],
    userToken: /demo user:\s+(ent_\S+)/.exec(tokens)?.[1],
    async kill(signal) {
      child.kill(signal);
      return exited;
    },
  };
}
