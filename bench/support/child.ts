// A server under test in a child process of its own (so the load generator never shares its
// event loop), spoken to over IPC: it sends `ready` when it listens, answers requests by type,
// and exits on `stop`.

import { fork, type ChildProcess } from 'node:child_process';

export interface Child<Ready> {
  readonly ready: Ready;
  /** Sends `{type, ...fields}` and resolves with the child's message of the same type. */
  ask<T>(type: string, fields?: Readonly<Record<string, unknown>>): Promise<T>;
  stop(): Promise<void>;
}

/** fork() passes this process's execArgv on (the tsx loader), plus `execArgv`. */
export async function forkChild<Ready>(
  module: URL,
  args: readonly string[],
  execArgv: readonly string[] = [],
): Promise<Child<Ready>> {
  const child: ChildProcess = fork(module, [...args], {
    execArgv: [...process.execArgv, ...execArgv],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: { type: string }) => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message as T);
      };
      const onExit = (code: number | null) =>
        reject(new Error(`bench server ${module.pathname} ${args.join(' ')} exited with ${code}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = await next<Ready>('ready');
  return {
    ready,
    ask: async <T>(type: string, fields: Readonly<Record<string, unknown>> = {}) => {
      const reply = next<T>(type);
      child.send({ ...fields, type });
      return reply;
    },
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'stop' });
      await exited;
    },
  };
}
