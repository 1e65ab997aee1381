// The server's log destination: lines wait in memory and reach the file in one write when
// 32 KiB have gathered or 1 s after the first of them; flushSync writes whatever waits.

import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BufferedLog, LOG_BUFFER_BYTES, LOG_FLUSH_MS } from '../src/log-destination.js';

describe('the buffered log destination', () => {
  let file: string;
  let fd: number;
  beforeEach(() => {
    vi.useFakeTimers();
    file = join(mkdtempSync(join(tmpdir(), 'entitle-log-')), 'server.log');
    fd = openSync(file, 'a');
  });
  afterEach(() => {
    vi.useRealTimers();
    closeSync(fd);
  });
  const written = () => readFileSync(file, 'utf8');

  it('keeps a line in memory until a second has passed since it was written', () => {
    const log = new BufferedLog({ fd });
    log.write('{"msg":"first"}\n');
    vi.advanceTimersByTime(LOG_FLUSH_MS / 2);
    log.write('{"msg":"second"}\n');
    expect(written()).toBe('');
    vi.advanceTimersByTime(LOG_FLUSH_MS / 2);
    expect(written()).toBe('{"msg":"first"}\n{"msg":"second"}\n');
    expect(log.buffered).toBe(0);
  });

  it('writes at once when 32 KiB have gathered, in the order they were logged', () => {
    const log = new BufferedLog({ fd });
    const line = (i: number) => `{"msg":"request","i":${i},"pad":"${'x'.repeat(100)}"}\n`;
    let count = 0;
    while (written() === '') log.write(line(count++));
    expect(written().length).toBeGreaterThanOrEqual(LOG_BUFFER_BYTES);
    expect(written()).toBe(Array.from({ length: count }, (_, i) => line(i)).join(''));
    expect(log.buffered).toBe(0);
  });

  it('writes everything that waits on flushSync, and nothing twice when the timer comes', () => {
    const log = new BufferedLog({ fd });
    log.write('{"msg":"a"}\n');
    log.write('{"msg":"b"}\n');
    log.flushSync();
    expect(written()).toBe('{"msg":"a"}\n{"msg":"b"}\n');
    vi.advanceTimersByTime(LOG_FLUSH_MS);
    expect(written()).toBe('{"msg":"a"}\n{"msg":"b"}\n');
  });

  it('gives up quietly on a destination that cannot be written any more', () => {
    const readOnly = openSync(file, 'r');
    const log = new BufferedLog({ fd: readOnly });
    log.write('{"msg":"lost"}\n');
    expect(() => log.flushSync()).toThrow();
    log.write('{"msg":"lost too"}\n');
    expect(() => log.flushQuietly()).not.toThrow();
    closeSync(readOnly);
  });
});
