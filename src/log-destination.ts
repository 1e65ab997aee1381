// Where the server's log goes: standard output through an asynchronous destination, so a log
// line never blocks a request on a slow terminal or pipe (a synchronous write per request was
// the largest cost of a request as shipped). What is buffered is flushed on exit, on SIGTERM
// (after the requests in flight finish) and on a fatal error.

import pino from 'pino';

export interface LogDestination extends pino.DestinationStream {
  /** Writes what is buffered before the process ends. */
  flushSync(): void;
}

/** An asynchronous destination on standard output, flushed when the process exits. */
export function openLogDestination(): LogDestination {
  const destination = pino.destination({ dest: 1, sync: false });
  process.once('exit', () => flushQuietly(destination));
  return destination;
}

/** Flushes; a destination that cannot be written any more (closed pipe) has nothing to save. */
export function flushQuietly(destination: LogDestination): void {
  try {
    destination.flushSync();
  } catch {
    // Nothing to do: the reader is gone.
  }
}
