// `npm start`: configuration from the environment, the app, listen, and a friendly first start.

import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openLogDestination } from './log-destination.js';
import { formatIssue } from './policy/read-policy.js';
import { InvalidPolicyError } from './policy/watch.js';
import { DEMO_TENANT, seedDemo, type DemoSeed } from './demo/seed-demo.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const destination = openLogDestination();
  const app = await buildApp({ config, logger: { stream: destination } });
  // A fatal error is logged and flushed before the process ends (the exit hook flushes too, but
  // only what reached the destination: the fatal line must get there first).
  const fatal = (error: unknown, kind: string): void => {
    app.log.fatal({ err: error }, kind);
    destination.flushQuietly();
    process.exit(1);
  };
  process.on('uncaughtException', (error) => fatal(error, 'uncaught exception'));
  process.on('unhandledRejection', (error) => fatal(error, 'unhandled promise rejection'));
  const seed = config.seedDemo ? await seedDemo(app.entitle.store, app.entitle.policy.snapshot) : undefined;
  const address = await app.listen({ port: config.port, host: config.host });
  printWelcome(config, address, seed, app.entitle.policy.snapshot.version);

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) {
      app.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing requests in flight');
    // Requests in flight finish and log their lines first; exit() then flushes the destination.
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => void app.entitle.policy.reload());
}

function printWelcome(config: Config, address: string, seed: DemoSeed | undefined, policyVersion: string): void {
  const base = address.replace('[::1]', 'localhost');
  const lines = [
    '',
    `Entitle is listening on ${base}`,
    `  store:  ${config.databaseUrl ? 'PostgreSQL' : `SQLite ${config.databasePath}`}`,
    `  policy: ${config.policyDirectory} (version ${policyVersion}; edits reload without a restart)`,
    '',
  ];
  if (seed) {
    // The tokens are secrets: shown on the terminal, never written where the log goes.
    const secret = [
      `First start: created tenant "${DEMO_TENANT}" on plan free, with two bearer tokens (shown only now):`,
      `  demo user: ${seed.userToken}`,
      `  operator:  ${seed.adminToken}   (admin role)`,
      '',
      'Try it:',
      `  export TOKEN=${seed.userToken}`,
      `  curl -s ${base}/api/calendar/status/ -H "Authorization: Bearer $TOKEN"        # 200, "available": false`,
      `  curl -s ${base}/api/calendar/list/ -H "Authorization: Bearer $TOKEN"          # 403 Feature not available`,
      `  npx entitle overrides set --tenant ${DEMO_TENANT} --feature can_use_calendar_sync --value true --reason trial`,
      `  curl -s ${base}/api/calendar/list/ -H "Authorization: Bearer $TOKEN"          # 200, no restart needed`,
      `  npx entitle overrides set --tenant ${DEMO_TENANT} --feature max_connected_calendars --value 2 --reason trial   # free allows 0`,
      `  curl -s -X POST ${base}/api/oauth/google/initiate/ -H "Authorization: Bearer $TOKEN" \\`,
      `       -H 'content-type: application/json' -d '{"purpose":"calendar"}'   # 503 until Google is configured (README)`,
      '',
      'As the operator (admin API, docs at ' + `${base}/docs):`,
      `  export ADMIN=${seed.adminToken}`,
      `  curl -s ${base}/api/admin/tenants/${DEMO_TENANT}/entitlements -H "Authorization: Bearer $ADMIN"`,
      `  curl -s -X PUT ${base}/api/admin/tenants/${DEMO_TENANT}/overrides/can_use_webhooks -H "Authorization: Bearer $ADMIN" \\`,
      `       -H 'content-type: application/json' -d '{"value":true,"reason":"pilot"}'`,
      '',
    ];
    // Standard output is the terminal: the tokens go there with the rest. Otherwise it is a log.
    const shown = process.stdout.isTTY ? 'stdout' : showTokens(secret.join('\n'), config.firstStartTokensFile);
    if (shown === 'stdout') lines.push(...secret);
    else
      lines.push(
        shown === 'terminal'
          ? `First start: created tenant "${DEMO_TENANT}" with two bearer tokens, shown on the terminal only (not in this log).`
          : shown === 'file'
            ? `First start: created tenant "${DEMO_TENANT}" with two bearer tokens, written to ${config.firstStartTokensFile} (mode 0600).`
            : `First start: created tenant "${DEMO_TENANT}"; its tokens are not shown (no terminal, no ENTITLE_FIRST_START_TOKENS_FILE): npx entitle tokens create --tenant ${DEMO_TENANT} --user demo-user`,
        '',
      );
  } else if (config.seedDemo) {
    lines.push(
      `A new token for the demo tenant: npx entitle tokens create --tenant ${DEMO_TENANT} --user demo-user`,
      `Then: curl -s ${base}/api/calendar/status/ -H "Authorization: Bearer <token>"`,
      '',
    );
  } else {
    lines.push('Tokens: npx entitle tokens create --tenant <tenant> --user <user> [--role admin]', '');
  }
  console.log(lines.join('\n'));
}

/**
 * Shows the first start's tokens when standard output goes to a log: on the controlling terminal
 * (/dev/tty) if there is one; else in the file named by ENTITLE_FIRST_START_TOKENS_FILE (created,
 * mode 0600) if set.
 */
function showTokens(text: string, file: string | undefined): 'terminal' | 'file' | 'nowhere' {
  try {
    const tty = openSync('/dev/tty', 'w');
    try {
      writeSync(tty, `${text}\n`);
    } finally {
      closeSync(tty);
    }
    return 'terminal';
  } catch {
    // No controlling terminal (a service, a container): the file, if one is named.
  }
  if (file === undefined) return 'nowhere';
  writeFileSync(file, `${text}\n`, { mode: 0o600, flag: 'wx' });
  return 'file';
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else if (error instanceof InvalidPolicyError)
    console.error(`The policy is invalid; not starting:\n${error.issues.map(formatIssue).join('\n')}`);
  else console.error(error);
  process.exit(1);
});
