// The CLI for tests: run in this process as `entitle <args>` would run, its output captured.

import type { CliIo } from '../../src/cli/cli-context.js';
import { runCli } from '../../src/cli/main.js';
import { TEST_TARGETS } from './webhook-targets.js';

/** One run of the CLI: its exit code and what it wrote to each stream. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with `args` in the given environment and working directory. */
export async function runCliCaptured(
  args: readonly string[],
  { env, cwd }: Pick<CliIo, 'env' | 'cwd'>,
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env,
    cwd,
    // Webhook names resolve to documentation addresses: nothing a test registers reaches the internet.
    webhookTargets: TEST_TARGETS,
  });
  return { code, stdout, stderr };
}
