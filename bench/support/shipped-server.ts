// The server exactly as `npm start` runs it: the built dist/server.js under plain node, a file
// SQLite database in a temporary directory, the repository's policies, default logging (its
// output goes to a file, as a log collector would take it). Its CPU time is read from /proc.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import type { LoadTarget } from './load.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Linux reports process times in clock ticks of 1/100 s (sysconf(_SC_CLK_TCK) on every Linux Node supports). */
const TICK_US = 10_000;

export interface ShippedServer extends LoadTarget {
  readonly directory: string;
  readonly logFile: string;
  /** What the server printed so far (the welcome, the log). */
  output(): string;
  /** What the first start wrote to ENTITLE_FIRST_START_TOKENS_FILE (its demo tokens), or ''. */
  tokens(): string;
  stop(): Promise<void>;
}

/** Starts dist/server.js (build it first) with `env` added to this environment. */
export async function startShippedServer(
  env: Record<string, string>,
  { startTimeoutMs = 30_000 } = {},
): Promise<ShippedServer> {
  const directory = mkdtempSync(join(tmpdir(), 'entitle-shipped-'));
  const logFile = join(directory, 'server.log');
  const tokensFile = join(directory, 'first-start-tokens.txt');
  const log = openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, ['dist/server.js'], {
    cwd: ROOT,
    // Only what a deployment must say: where to listen and where the database lives.
    env: {
      ...process.env,
      DATABASE_URL: '',
      PORT: '0',
      HOST: '127.0.0.1',
      ENTITLE_DB: join(directory, 'entitle.db'),
      // With no terminal (as here) the first start's tokens go to this file, never to the log.
      ENTITLE_FIRST_START_TOKENS_FILE: tokensFile,
      ...env,
    },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const output = () => readFileSync(logFile, 'utf8');
  // The server prints its address once listening; the file is the only channel, so it is polled (bounded).
  let url: string | undefined;
  for (const started = Date.now(); url === undefined; await delay(50)) {
    url = /Entitle is listening on (http:\/\/\S+)/.exec(output())?.[1];
    if (exited !== undefined) throw new Error(`dist/server.js exited with ${exited} during start:\n${output()}`);
    if (Date.now() - started > startTimeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`dist/server.js did not start in ${startTimeoutMs} ms:\n${output()}`);
    }
  }
  const pid = child.pid as number;
  return {
    url,
    directory,
    logFile,
    output,
    tokens: () => (existsSync(tokensFile) ? readFileSync(tokensFile, 'utf8') : ''),
    cpu: async () => {
      // /proc/<pid>/stat: utime and stime are fields 14 and 15, after the parenthesised command name.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return (Number(fields[11]) + Number(fields[12])) * TICK_US;
    },
    stop: async () => {
      if (exited !== undefined) return;
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await done;
    },
  };
}
