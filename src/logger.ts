// The logging surface modules need: pino's, without tying them to pino or fastify types.

type LogFn = (details: object, message?: string) => void;

export interface Logger {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}
