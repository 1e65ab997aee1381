// Where the server's log goes: standard output through a buffer, as nginx buffers its access log
// (`access_log … buffer=32k flush=1s`). Lines are kept in memory and written in one synchronous
// write when 32 KiB have gathered or 1 s after the first of them, whichever comes first, so a
// request pays for a string append, not a system call. The write is synchronous on purpose: no
// write is ever in flight, so a flush on exit, SIGTERM, SIGINT or a fatal error writes everything
// that was logged (an asynchronous write still in the thread pool when the process exits is lost).

import { writeSync } from 'node:fs';
import type { DestinationStream } from 'pino';

/** Flush when this many bytes are buffered (nginx's `buffer=32k`). */
export const LOG_BUFFER_BYTES = 32 * 1024;
/** Flush this long after the first buffered line (nginx's `flush=1s`). */
export const LOG_FLUSH_MS = 1000;

export interface LogDestination extends DestinationStream {
  /** Writes what is buffered now (before the process ends). */
  flushSync(): void;
}

export interface BufferedLogOptions {
  /** File descriptor to write to (default 1, standard output). */
  readonly fd?: number;
  readonly maxBytes?: number;
  readonly flushMs?: number;
}

/** Retries of a write that met a full non-blocking pipe (EAGAIN), 1 ms apart, before giving up. */
const AGAIN_RETRIES = 1000;
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Lines buffered in memory, written by size and by time, and synchronously on demand. */
export class BufferedLog implements LogDestination {
  readonly #fd: number;
  readonly #maxBytes: number;
  readonly #flushMs: number;
  #pending = '';
  #timer: NodeJS.Timeout | undefined;

  constructor(options: BufferedLogOptions = {}) {
    this.#fd = options.fd ?? 1;
    this.#maxBytes = options.maxBytes ?? LOG_BUFFER_BYTES;
    this.#flushMs = options.flushMs ?? LOG_FLUSH_MS;
  }

  /** Bytes waiting (characters: the log is ASCII but for user-chosen values, which only count less). */
  get buffered(): number {
    return this.#pending.length;
  }

  write(line: string): void {
    this.#pending += line;
    if (this.#pending.length >= this.#maxBytes) this.flushQuietly();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flushQuietly(), this.#flushMs);
      // A buffered line never keeps the process alive: exit flushes it.
      this.#timer.unref();
    }
  }

  flushSync(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === '') return;
    let bytes = Buffer.from(this.#pending);
    this.#pending = '';
    for (let retries = 0; bytes.length > 0;) {
      try {
        bytes = bytes.subarray(writeSync(this.#fd, bytes));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || ++retries > AGAIN_RETRIES) throw error;
        // Standard output may be a non-blocking pipe whose reader is behind: wait for it.
        Atomics.wait(pause, 0, 0, 1);
      }
    }
  }

  /** Flushes; a destination that cannot be written any more (closed pipe) has nothing to save. */
  flushQuietly(): void {
    try {
      this.flushSync();
    } catch {
      // Nothing to do: the reader is gone, and there is nowhere else to say so.
    }
  }
}

/** The server's log on standard output, buffered, flushed when the process exits. */
export function openLogDestination(): BufferedLog {
  const destination = new BufferedLog();
  process.once('exit', () => destination.flushQuietly());
  return destination;
}
