// The `entitle` command: one program, subcommands registered from their own modules.

import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from '../config.js';
import { isClientFacing } from '../errors.js';
import { formatIssue } from '../policy/read-policy.js';
import { InvalidPolicyError } from '../policy/watch.js';
import { CliContext, type CliIo } from './cli-context.js';
import { registerAudit } from './commands/audit-command.js';
import { registerBilling } from './commands/billing-command.js';
import { registerExplain } from './commands/explain-command.js';
import { registerKeys } from './commands/keys-command.js';
import { registerOverrides } from './commands/overrides-command.js';
import { registerPlans } from './commands/plans-command.js';
import { registerPolicy } from './commands/policy-command.js';
import { registerStore } from './commands/store-command.js';
import { registerTenants } from './commands/tenants-command.js';
import { registerTokens } from './commands/tokens-command.js';
import { registerUsage } from './commands/usage-command.js';
import { registerValidate, UsageError } from './commands/validate-command.js';
import { registerWebhooks } from './commands/webhooks-command.js';
import { terminalSafe } from './terminal-text.js';

/** Runs the CLI with `args` (without node and script) and returns the exit code. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const context = new CliContext(io, () => loadConfig(io.env, io.cwd, { purpose: 'cli' }));
  let exitCode = 0;
  const program = new Command('entitle')
    .description('Entitle: policy-as-data feature entitlements')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  registerValidate(program, context, (code) => (exitCode = code));
  registerExplain(program, context);
  registerTenants(program, context);
  registerOverrides(program, context);
  registerTokens(program, context);
  registerKeys(program, context);
  registerAudit(program, context, (code) => (exitCode = code));
  registerPolicy(program, context, (code) => (exitCode = code));
  registerPlans(program, context);
  registerStore(program, context);
  registerUsage(program, context, (code) => (exitCode = code));
  registerBilling(program, context);
  registerWebhooks(program, context);
  for (const command of program.commands)
    applyRecursively(command, (c) => c.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr }));

  try {
    await program.parseAsync([...args], { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, io);
  } finally {
    await context.close();
  }
}

function applyRecursively(command: Command, apply: (command: Command) => void): void {
  apply(command);
  for (const child of command.commands) applyRecursively(child, apply);
}

function reportError(error: unknown, rawIo: CliIo): number {
  // Messages may quote what was stored (a tenant's name): escaped like every other output.
  const io = { ...rawIo, stderr: (text: string) => rawIo.stderr(terminalSafe(text)) };
  if (error instanceof CommanderError) {
    // Commander has printed its own message (or the help/version text it was asked for).
    return error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.code === 'commander.help'
      ? 0
      : 2;
  }
  if (error instanceof InvalidPolicyError) {
    io.stderr(`error: the policy is invalid:\n${error.issues.map(formatIssue).join('\n')}\n`);
    return 1;
  }
  if (error instanceof UsageError) {
    io.stderr(`error: ${error.message}\n`);
    return 2;
  }
  if (error instanceof ConfigError || isClientFacing(error)) {
    io.stderr(`error: ${error.message}\n`);
    return 1;
  }
  io.stderr(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}
