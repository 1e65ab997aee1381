// Fastify gives every request a child logger bound to its request id. With pino that child is
// built (its bindings serialized through the redaction) on every request, though most requests
// never log through it: the access line has a logger of its own (request-log.ts). This factory
// hands out a child that is built the first time it writes at an enabled level.

import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>;

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1];
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** pino's loggers answer this; a logger without it is taken to write at every level. */
interface LevelAware {
  isLevelEnabled?(level: string): boolean;
}

class LazyChildLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildOptions,
  ) {}

  /** The real child, built once. */
  #built(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings, this.options);
    return this.#child;
  }

  /** Whether a line at `level` would be written: the built child knows; else the parent, unless this child sets a level. */
  #writes(level: Level): boolean {
    if (this.#child) return true;
    if (this.options?.level !== undefined) return true;
    const aware = this.parent as FastifyBaseLogger & LevelAware;
    return typeof aware.isLevelEnabled !== 'function' || aware.isLevelEnabled(level);
  }

  get level(): string {
    return this.#child?.level ?? this.options?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.#built().level = level;
  }

  fatal(...line: unknown[]): void {
    this.#log('fatal', line);
  }
  error(...line: unknown[]): void {
    this.#log('error', line);
  }
  warn(...line: unknown[]): void {
    this.#log('warn', line);
  }
  info(...line: unknown[]): void {
    this.#log('info', line);
  }
  debug(...line: unknown[]): void {
    this.#log('debug', line);
  }
  trace(...line: unknown[]): void {
    this.#log('trace', line);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.#built().child(bindings, options);
  }

  #log(level: Level, line: unknown[]): void {
    if (!this.#writes(level)) return;
    (this.#built()[level] as (...args: unknown[]) => void)(...line);
  }
}

/** Fastify's `childLoggerFactory`: a per-request logger that costs nothing until it writes. */
export const lazyChildLoggerFactory: ChildLoggerFactory = function (logger, bindings, options) {
  return new LazyChildLogger(logger, bindings, options);
};
