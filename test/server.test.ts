// `npm start` as a user runs it: a real process on a free port, the printed demo token, and a
// CLI override reaching the running server's decisions with no restart.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { entryArgs } from './support/child-server.js';
import { STARTER_POLICY_DIR } from './support/policy.js';

const ROOT = new URL('../', import.meta.url).pathname;

/** What the server says once it listens and has dealt with the demo tokens. */
const WELCOMED = /First start: created tenant|A new token for the demo tenant/;

/**
 * Starts the server with no terminal (its output is a log, as under a service manager) and
 * resolves with what it printed once it says it is listening; `tokens` is what it wrote to
 * ENTITLE_FIRST_START_TOKENS_FILE (the demo tokens never reach the output).
 */
function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; output: string; tokens: string }> {
  const tokensFile = join(mkdtempSync(join(tmpdir(), 'entitle-tokens-')), 'tokens.txt');
  const child = spawn(process.execPath, entryArgs('server.ts'), {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: '',
      ENTITLE_FIRST_START_TOKENS_FILE: tokensFile,
      ...env,
      PORT: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (WELCOMED.test(output))
        resolve({ child, output, tokens: existsSync(tokensFile) ? readFileSync(tokensFile, 'utf8') : '' });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
}

describe('npm start', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGTERM');
  });

  it('seeds the demo tenant, prints a token and curl lines, and follows CLI overrides without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entitle-start-'));
    const env = { ENTITLE_DB: join(dir, 'entitle.db'), ENTITLE_POLICIES: STARTER_POLICY_DIR };
    const started = await startServer(env);
    child = started.child;
    const base = /listening on (http:\/\/[^\s]+)/.exec(started.output)?.[1] as string;
    const token = /demo user: (ent_\S+)/.exec(started.tokens)?.[1] as string;
    expect(started.output).not.toContain(token);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(token).toMatch(/^ent_/);
    const headers = { authorization: `Bearer ${token}` };

    const status = await fetch(`${base}/api/calendar/status/`, { headers });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({
      available: false,
      feature: 'can_use_calendar_sync',
      featureName: 'Calendar Sync',
    });
    const denied = await fetch(`${base}/api/calendar/list`, { headers });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: 'Feature not available', requiredPlan: 'pro' });

    const cli = await runCli(
      [
        'overrides',
        'set',
        '--tenant',
        'demo',
        '--feature',
        'can_use_calendar_sync',
        '--value',
        'true',
        '--reason',
        'trial',
      ],
      {
        stdout: () => {},
        stderr: () => {},
        env,
        cwd: ROOT,
      },
    );
    expect(cli).toBe(0);
    // Another process wrote: the server notices through the database (bounded wait, no restart).
    let allowed = 0;
    for (let attempt = 0; attempt < 200 && allowed !== 200; attempt++) {
      allowed = (await fetch(`${base}/api/calendar/list/`, { headers })).status;
      if (allowed !== 200) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(allowed).toBe(200);
  });

  it('still prints the demo tokens when the CLI used the fresh database first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entitle-start-'));
    const env = { ENTITLE_DB: join(dir, 'entitle.db'), ENTITLE_POLICIES: STARTER_POLICY_DIR };
    const args = [
      'overrides',
      'set',
      '--tenant',
      'demo',
      '--feature',
      'can_use_calendar_sync',
      '--value',
      'true',
      '--reason',
      'trial',
    ];
    expect(await runCli(args, { stdout: () => {}, stderr: () => {}, env, cwd: ROOT })).toBe(0);
    const started = await startServer(env);
    child = started.child;
    const base = /listening on (http:\/\/[^\s]+)/.exec(started.output)?.[1] as string;
    const token = /demo user: (ent_\S+)/.exec(started.tokens)?.[1] as string;
    expect(started.output).not.toContain(token);
    expect((await fetch(`${base}/api/calendar/list/`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
      200,
    );
  });

  // The command itself, not src/server.ts through tsx: `prestart` builds dist/ (tsc and the
  // console bundle), then `node dist/server.js` must find every module and the console page.
  it('npm start builds dist/ and the built server serves the API and the console', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entitle-start-'));
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      detached: true,
      env: {
        ...process.env,
        DATABASE_URL: '',
        ENTITLE_DB: join(dir, 'entitle.db'),
        ENTITLE_POLICIES: STARTER_POLICY_DIR,
        ENTITLE_FIRST_START_TOKENS_FILE: join(dir, 'tokens.txt'),
        PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const output = await new Promise<string>((resolve, reject) => {
        let text = '';
        const timer = setTimeout(() => reject(new Error(`npm start printed no address in 90 s:\n${text}`)), 90_000);
        const onData = (chunk: Buffer) => {
          text += chunk.toString();
          if (WELCOMED.test(text)) {
            clearTimeout(timer);
            resolve(text);
          }
        };
        npm.stdout?.on('data', onData);
        npm.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
        npm.on('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`npm start exited with ${code}:\n${text}`));
        });
      });
      const base = /listening on (http:\/\/[^\s]+)/.exec(output)?.[1] as string;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const page = await fetch(`${base}/console`);
      expect(page.status).toBe(200);
      const html = await page.text();
      const script = /src="([^"]+\.js)"/.exec(html)?.[1] as string;
      expect(script).toBeTruthy();
      expect((await fetch(new URL(script, `${base}/console/`))).status).toBe(200);
      // Route schemas validate through the bundled TypeBox: a bad body is still a 400 naming the field.
      const operator = /operator:\s+(ent_\S+)/.exec(readFileSync(join(dir, 'tokens.txt'), 'utf8'))?.[1] as string;
      const bad = await fetch(`${base}/api/admin/tenants`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${operator}` },
        body: JSON.stringify({ id: 'schema-check' }),
      });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: 'ENT_ERR_VALIDATION', error: 'body.plan: is required' });
      // The API docs load on first use, through the bundle (a package left outside it).
      const docs = await fetch(`${base}/docs/json`);
      expect(docs.status).toBe(200);
      expect(((await docs.json()) as { openapi: string }).openapi).toMatch(/^3\./);
      // The built server is the bundle, run from the code cache its build wrote (a refused cache warns).
      expect(readFileSync(join(ROOT, 'dist/server.js'), 'utf8')).toContain('server.bundle.cjs');
      expect(statSync(join(ROOT, 'dist/server.bundle.cjs.v8cache')).size).toBeGreaterThan(100_000);
      expect(output).not.toContain('code cache');
      // The build loads TypeBox as one bundled file (start-up), never the package's 373 modules.
      const compiled = readFileSync(join(ROOT, 'dist/admin/tenant-routes.js'), 'utf8');
      expect(compiled).toContain('vendor/typebox.js');
      expect(compiled).not.toMatch(/from ['"]typebox['"]/);
    } finally {
      // npm runs the server in a child shell: end the whole process group.
      if (npm.pid) process.kill(-npm.pid, 'SIGTERM');
    }
  }, 120_000);

  it('refuses to start on an invalid policy, naming file:line:column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entitle-start-'));
    const policies = mkdtempSync(join(tmpdir(), 'entitle-bad-policy-'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(policies, 'plans.yaml'), 'plans:\n  free:\n    extends: nowhere\n');
    const error = await startServer({ ENTITLE_DB: join(dir, 'entitle.db'), ENTITLE_POLICIES: policies }).catch(
      (e: unknown) => e,
    );
    expect(String(error)).toMatch(
      /server exited with 1:[\s\S]*plans\.yaml:3:14: plans\.free\.extends: unknown plan "nowhere"/,
    );
  });
});
