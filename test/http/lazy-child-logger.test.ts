// The per-request logger: built on its first line at an enabled level, then the same as the
// pino child fastify would have made (bindings, redaction, a route's own level).

import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { lazyChildLoggerFactory } from '../../src/http/lazy-child-logger.js';

function collected(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level, redact: { paths: ['*.authorization'], censor: '[redacted]' } }, stream);
  return { logger, lines };
}

const childOf = (logger: pino.Logger, options: { level?: string } = {}) =>
  lazyChildLoggerFactory.call({} as FastifyInstance, logger, { reqId: 'req-1' }, options, {} as never);

describe('the lazy per-request logger', () => {
  it('builds no child for a request that writes nothing, or only below the level', () => {
    const { logger, lines } = collected('info');
    const child = vi.spyOn(logger, 'child');
    const log = childOf(logger);
    log.debug('not at info');
    log.trace({ detail: 1 }, 'nor this');
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
    expect(log.level).toBe('info');
  });

  it('writes with the request id bound and the redaction of its parent, building the child once', async () => {
    const { logger, lines } = collected('info');
    const child = vi.spyOn(logger, 'child');
    const log = childOf(logger);
    log.warn({ headers: { authorization: 'Bearer secret' } }, 'first');
    log.error(new Error('boom'), 'second');
    log.info('third %s', 'formatted');
    await new Promise((resolve) => setImmediate(resolve));
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines).toMatchObject([
      { level: 40, reqId: 'req-1', msg: 'first', headers: { authorization: '[redacted]' } },
      { level: 50, reqId: 'req-1', msg: 'second', err: { message: 'boom' } },
      { level: 30, reqId: 'req-1', msg: 'third formatted' },
    ]);
    expect(JSON.stringify(lines)).not.toContain('secret');
  });

  it("keeps a route's own level and gives its children the bindings", async () => {
    const { logger, lines } = collected('info');
    const log = childOf(logger, { level: 'debug' });
    expect(log.level).toBe('debug');
    log.debug('route at debug');
    log.child({ step: 'sync' }).info('nested');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toMatchObject([
      { level: 20, reqId: 'req-1', msg: 'route at debug' },
      { level: 30, reqId: 'req-1', step: 'sync', msg: 'nested' },
    ]);
  });
});
