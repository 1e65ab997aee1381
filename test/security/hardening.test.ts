// The smaller findings of the hardening probe (issue 14, item 5), each as the behaviour a user
// of the service can rely on: timeouts, numeric limits, strict dates, escaped CLI output, no
// codes in the access log, key errors that name the key, /docs headers, a terse /readyz.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { allowedCount, fitsLimit } from '../../src/entitlements/limits.js';
import { readPolicyTexts } from '../../src/policy/read-policy.js';
import { buildTestApp, type TestApp } from '../support/app.js';
import { runCliCaptured } from '../support/cli.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('request timeouts', () => {
  it('close a connection whose body does not arrive in time with 408', async () => {
    t = await buildTestApp({ env: { ENTITLE_REQUEST_TIMEOUT_MS: '300', ENTITLE_IDLE_TIMEOUT_MS: '60000' } });
    const token = await t.token('acme');
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const socket = connect(Number(new URL(address).port), '127.0.0.1');
    await once(socket, 'connect');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    // Headers promise 100 bytes; one arrives, the rest never does.
    socket.write(
      `POST /api/entitlements/preflight HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
    );
    try {
      await once(socket, 'close');
    } finally {
      socket.destroy();
    }
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('numeric features', () => {
  const put = (value: string) =>
    t!.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/acme/overrides/max_connected_calendars',
      headers: { ...adminHeaders, 'content-type': 'application/json' },
      payload: `{"value":${value},"reason":"probe"}`,
    });
  let adminHeaders: Record<string, string> = {};

  it.each([
    ['-1', 'value: must be at least 0 (got -1)'],
    ['1.5', 'value: must be a whole number'],
    ['1e308', 'value: must be a whole number'],
    ['9007199254740993', 'value: must be a whole number'],
    ['1001', 'value: must be at most 1000 (got 1001)'],
  ])('refuse an override of %s for max_connected_calendars with 400, and store nothing', async (value, message) => {
    t = await buildTestApp();
    await t.token('acme', 'alice', { plan: 'pro' });
    adminHeaders = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    const response = await put(value);
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toContain(message);
    expect(await t.app.entitle.store.overrides.list({ tenantId: 'acme' })).toEqual([]);
    expect((await put('3')).statusCode).toBe(201);
  });

  it('are checked against integer, minimum and maximum in the policy, with positions', () => {
    const result = readPolicyTexts([
      {
        file: 'limits.yaml',
        text: [
          'features:',
          '  seats:',
          '    name: Seats',
          '    description: x',
          '    type: number',
          '    integer: true',
          '    minimum: 1',
          '    maximum: 10',
          '    default: 0.5',
          '    upgradeMessage: Upgrade.',
          '  flag:',
          '    name: Flag',
          '    description: x',
          '    type: boolean',
          '    integer: true',
          '    default: false',
          '    upgradeMessage: Upgrade.',
          'plans:',
          '  free:',
          '    features:',
          '      seats: 11',
        ].join('\n'),
      },
    ]);
    expect(result.ok).toBe(false);
    expect(result.issues.map((issue) => `${issue.line}:${issue.column} ${issue.message}`)).toEqual([
      '9:14 features.seats.default: must be a whole number (at most 9007199254740991), as the feature declares integer (got 0.5)',
      '15:5 features.flag.integer: only number features may declare integer',
      '21:14 plans.free.features.seats: must be at most 10 (got 11)',
    ]);
  });

  it('are limits by one rule everywhere: a value of 1.5 allows one, as preflight, initiation and the store count it', () => {
    expect(allowedCount(1.5)).toBe(1);
    expect(fitsLimit(1.5, 0)).toBe(true);
    expect(fitsLimit(1.5, 1)).toBe(false);
    // The store refuses when count >= max: given allowedCount, it agrees with fitsLimit.
    for (const [limit, used] of [
      [1.5, 1],
      [2, 1],
      [0, 0],
      [-1, 0],
      [Number.NaN, 0],
    ] as const)
      expect(used >= allowedCount(limit)).toBe(!fitsLimit(limit, used));
  });
});

describe('override expiry dates', () => {
  it('refuse a day that does not exist rather than roll it into the next month', async () => {
    t = await buildTestApp();
    await t.token('acme');
    const headers = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    const response = await t.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/acme/overrides/can_use_webhooks',
      headers,
      payload: { value: true, reason: 'trial', expiresAt: '2030-02-30T00:00:00Z' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatch(/^expiresAt: /);
    expect(await t.app.entitle.store.overrides.list({ tenantId: 'acme' })).toEqual([]);
    const leap = await t.app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/acme/overrides/can_use_webhooks',
      headers,
      payload: { value: true, reason: 'trial', expiresAt: '2032-02-29T00:00:00Z' },
    });
    expect(leap.json()).toMatchObject({ expiresAt: '2032-02-29T00:00:00.000Z' });
  });
});

describe('the access log', () => {
  it('redacts secret query parameters wherever a request URL is logged', async () => {
    const { redactUrl } = await import('../../src/http/log-redaction.js');
    expect(redactUrl('/api/oauth/google/callback/?code=abc&state=xyz&x=1&Access_Token=t')).toBe(
      '/api/oauth/google/callback/?code=[redacted]&state=[redacted]&x=1&Access_Token=[redacted]',
    );
    expect(redactUrl('/api/calendar/list/')).toBe('/api/calendar/list/');
  });

  it('never holds an OAuth callback code or state', async () => {
    let logs = '';
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs += chunk.toString();
        done();
      },
    });
    t = await buildTestApp({ logger: { level: 'info', stream } });
    const headers = t.auth(await t.token('acme'));
    await t.app.inject({
      method: 'GET',
      url: '/api/oauth/google/callback/?code=SECRET-CODE-4711&state=SECRET-STATE-0815&x=1',
      headers,
    });
    // The request was logged (its route), without the query's secrets.
    expect(logs).toContain('/api/oauth/:provider/callback/');
    expect(logs).not.toContain('SECRET-CODE-4711');
    expect(logs).not.toContain('SECRET-STATE-0815');
  });
});

describe('the CLI', () => {
  const cli = (env: Record<string, string>, cwd: string, ...args: string[]) => runCliCaptured(args, { env, cwd });

  it('shows control characters in stored names escaped, never raw', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'entitle-cli-'));
    const env = {
      ENTITLE_DB: join(cwd, 'entitle.db'),
      ENTITLE_SEED_DEMO: 'false',
      ENTITLE_POLICIES: STARTER_POLICY_DIR,
    };
    expect(
      (
        await cli(
          env,
          cwd,
          'tenants',
          'create',
          'acme',
          '--plan',
          'free',
          '--name',
          'Acme\u001b]0;pwned\u0007\u001b[2J\u0000',
        )
      ).code,
    ).toBe(0);
    expect(
      (await cli(env, cwd, 'tokens', 'create', '--tenant', 'acme', '--user', 'alice', '--name', 'ci\u001b[31mred'))
        .code,
    ).toBe(0);
    const output =
      (await cli(env, cwd, 'tenants', 'list')).stdout +
      (await cli(env, cwd, 'tokens', 'list')).stdout +
      (await cli(env, cwd, 'audit', 'list')).stdout;
    // eslint-disable-next-line no-control-regex
    expect(output).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(output).toContain('Acme\\x1b]0;pwned\\x07\\x1b[2J\\x00');
    expect(output).toContain('ci\\x1b[31mred');
  });

  it('names the key that fails when keys rotate cannot decrypt a stored secret', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'entitle-keys-'));
    const keys = (value: string) => ({
      ENTITLE_DB: join(cwd, 'entitle.db'),
      ENTITLE_SEED_DEMO: 'false',
      ENTITLE_POLICIES: STARTER_POLICY_DIR,
      ENTITLE_ENCRYPTION_KEYS: `k1:${value}`,
    });
    const original = keys(randomBytes(32).toString('base64'));
    t = await buildTestApp({ env: original });
    const principal = {
      tenantId: 'acme',
      userId: 'alice',
      role: 'member' as const,
      via: { kind: 'token' as const, tokenId: 'x' },
    };
    await t.app.entitle.operations.createTenant({ id: 'acme', plan: 'free' }, { actor: 'test' });
    const { startAuthorization } = await import('../../src/oauth/oauth-state.js');
    await startAuthorization(
      t.app.entitle,
      { principal, provider: 'google', purpose: 'login', redirectUri: 'http://localhost/cb' },
      { actor: 'test' },
    );
    await t.close();
    t = undefined;
    // The same key id with other bytes: the configuration was changed by mistake.
    const rotated = await cli(
      {
        ...keys(randomBytes(32).toString('base64')),
        ENTITLE_ENCRYPTION_KEYS: `k2:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`,
        ENTITLE_ENCRYPTION_KEY_ID: 'k2',
      },
      cwd,
      'keys',
      'rotate',
    );
    expect(rotated.code).toBe(1);
    expect(rotated.stderr).toMatch(
      /^error: cannot decrypt oauth_state\.code_verifier of [0-9a-f]{64} with key "k1": .*ENTITLE_ENCRYPTION_KEYS holds key "k1"/,
    );
    expect(rotated.stderr).not.toContain('unavailable');
  });
});

describe('/docs', () => {
  it('is served with a Content-Security-Policy that forbids framing, and X-Frame-Options', async () => {
    t = await buildTestApp();
    for (const url of ['/docs', '/docs/static/index.html']) {
      const response = await t.app.inject({ method: 'GET', url });
      expect(response.headers['content-security-policy'], url).toMatch(/frame-ancestors 'none'/);
      expect(response.headers['content-security-policy'], url).toMatch(/object-src 'none'/);
      expect(response.headers['x-frame-options'], url).toBe('DENY');
    }
  });
});

describe('/readyz', () => {
  it('says only ready to callers without a token, and the details to an operator', async () => {
    t = await buildTestApp();
    const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    const member = t.auth(await t.token('acme'));
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready' });
    expect((await t.app.inject({ method: 'GET', url: '/readyz', headers: member })).json()).toEqual({
      status: 'ready',
    });
    expect((await t.app.inject({ method: 'GET', url: '/readyz', headers: admin })).json()).toEqual({
      status: 'ready',
      store: expect.any(String),
      policyVersion: expect.any(String),
      policyLoadedAt: expect.any(String),
      tenants: 2,
    });
  });
});
