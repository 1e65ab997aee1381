// The access log: one line per request with method, route, status, ms, tenant and request id,
// never a header or a query string; none with ENTITLE_REQUEST_LOG=false; and the real server's
// buffered destination loses no line when it is stopped with SIGTERM or SIGINT under load, or
// ends on an uncaught exception.

import { statSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';
import { startChildServer, type ChildServer } from '../support/child-server.js';

/** The JSON lines a child server wrote. */
function logLines(child: ChildServer): Record<string, unknown>[] {
  return child
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * Keeps `connections` clients asking for /healthz, one request after another each, until the
 * server stops answering; `answered` holds the request id of every 200. `started` resolves once
 * `warm` requests have been answered, so the signal comes while requests are in flight.
 */
function loadHealthz(url: string, connections: number, warm: number) {
  const answered: string[] = [];
  let resolveStarted: () => void;
  const started = new Promise<void>((resolve) => (resolveStarted = resolve));
  const client = async () => {
    for (;;) {
      try {
        const response = await fetch(`${url}/healthz`);
        await response.arrayBuffer();
        if (response.status !== 200) return;
        answered.push(response.headers.get('x-request-id') as string);
        if (answered.length === warm) resolveStarted();
      } catch {
        return; // The server stopped listening.
      }
    }
  };
  const done = Promise.all(Array.from({ length: connections }, client));
  return { answered, started, done };
}

/** A pino destination that keeps every line, parsed. */
function collect(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { stream, lines };
}

describe('the access log', () => {
  let t: TestApp | undefined;
  let child: ChildServer | undefined;
  afterEach(async () => {
    await t?.close();
    await child?.kill('SIGKILL');
    t = undefined;
    child = undefined;
  });

  it('writes one line per request with method, route, status, duration, tenant and request id, and no credentials', async () => {
    const { stream, lines } = collect();
    t = await buildTestApp({ logger: { level: 'info', stream } });
    const token = await t.token('acme', 'alice', { plan: 'pro' });
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/calendar/status/?code=secret-code',
      headers: t.auth(token),
    });
    expect(response.statusCode).toBe(200);

    const requestLines = lines.filter((line) => line.msg === 'request');
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({
      level: 30,
      time: expect.any(Number),
      pid: process.pid,
      hostname: expect.any(String),
      method: 'GET',
      route: '/api/calendar/status/',
      status: 200,
      tenant: 'acme',
      reqId: response.headers['x-request-id'],
    });
    expect(typeof requestLines[0]?.ms).toBe('number');
    // fastify's own "incoming request" / "request completed" pair is gone.
    expect(lines.filter((line) => line.msg === 'incoming request' || line.msg === 'request completed')).toEqual([]);
    const text = JSON.stringify(lines);
    expect(text).not.toContain(token);
    expect(text).not.toContain('secret-code');
  });

  it('logs a request that matched no route by its path without the query string, with no tenant', async () => {
    const { stream, lines } = collect();
    t = await buildTestApp({ logger: { level: 'info', stream } });
    await t.app.inject({ method: 'GET', url: '/nowhere?state=abc' });
    expect(lines.filter((line) => line.msg === 'request')).toMatchObject([
      { method: 'GET', route: '/nowhere', status: 404, tenant: null },
    ]);
  });

  it('writes no request lines with ENTITLE_REQUEST_LOG=false', async () => {
    const { stream, lines } = collect();
    t = await buildTestApp({ env: { ENTITLE_REQUEST_LOG: 'false' }, logger: { level: 'info', stream } });
    await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(lines.filter((line) => line.msg === 'request')).toEqual([]);
  });

  it('refuses an ENTITLE_REQUEST_LOG that is not true or false', async () => {
    await expect(buildTestApp({ env: { ENTITLE_REQUEST_LOG: 'yes' } })).rejects.toThrow(
      /ENTITLE_REQUEST_LOG must be true or false/,
    );
  });

  it('keeps the first start’s tokens out of the server’s output: with no terminal, only in the 0600 file', async () => {
    child = await startChildServer({ LOG_LEVEL: 'info' });
    expect(child.adminToken).toMatch(/^ent_/);
    expect(child.userToken).toMatch(/^ent_/);
    expect(statSync(child.tokensFile).mode & 0o777).toBe(0o600);
    const answer = await fetch(`${child.url}/api/entitlements/`, {
      headers: { authorization: `Bearer ${child.userToken}` },
    });
    expect(answer.status).toBe(200);
    expect(await child.kill('SIGTERM')).toBe(0);
    expect(child.output()).not.toContain(child.userToken as string);
    expect(child.output()).not.toContain(child.adminToken as string);
    expect(child.output()).toMatch(/two bearer tokens, written to .*tokens\.txt \(mode 0600\)/);
  });

  it('flushes every line of the running server when it is stopped with SIGTERM', async () => {
    child = await startChildServer({ LOG_LEVEL: 'info' });
    const requests = 200;
    const answers = await Promise.all(Array.from({ length: requests }, () => fetch(`${child?.url}/healthz`)));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(await child.kill('SIGTERM')).toBe(0);
    const lines = logLines(child);
    expect(lines.filter((line) => line.msg === 'request' && line.route === '/healthz')).toHaveLength(requests);
    expect(lines.some((line) => line.msg === 'shutting down: finishing requests in flight')).toBe(true);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`writes a line for every answered request when stopped with ${signal} under load`, async () => {
      child = await startChildServer({ LOG_LEVEL: 'info' });
      const load = loadHealthz(child.url, 20, 500);
      await load.started;
      expect(await child.kill(signal)).toBe(0);
      await load.done;
      const logged = new Set(
        logLines(child)
          .filter((line) => line.msg === 'request' && line.route === '/healthz' && line.status === 200)
          .map((line) => line.reqId),
      );
      expect(load.answered.length).toBeGreaterThanOrEqual(500);
      expect(load.answered.filter((id) => !logged.has(id))).toEqual([]);
      expect(logLines(child)).toContainEqual(
        expect.objectContaining({ msg: 'shutting down: finishing requests in flight', signal }),
      );
    });
  }

  it('writes every line and the fatal error when an exception is not caught', async () => {
    child = await startChildServer({ LOG_LEVEL: 'info' }, 60_000, ['test/support/uncaught-on-sigusr2.mjs']);
    const load = loadHealthz(child.url, 20, 300);
    await load.started;
    expect(await child.kill('SIGUSR2')).toBe(1);
    await load.done;
    const lines = logLines(child);
    const logged = new Set(lines.filter((line) => line.msg === 'request').map((line) => line.reqId));
    expect(load.answered.filter((id) => !logged.has(id))).toEqual([]);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 60,
        msg: 'uncaught exception',
        err: expect.objectContaining({ message: 'injected fault' }),
      }),
    );
  });
});
