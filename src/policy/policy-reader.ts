// Policy reads off the event loop: each read parses and validates in a worker thread, so a
// multi-megabyte policy (a validation request, a hot reload) never stalls /healthz or decisions.
// Bounded: a few workers at once, a short queue, a heap limit and a time limit per read.

import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PolicyBusyError, PolicyTooLargeError } from '../errors.js';
import { compileChecked, type PolicyCheckResult, type PolicyReadResult } from './read-policy.js';
import type { PolicyJob } from './policy-worker.js';

export interface PolicyReaderOptions {
  /** Reads running at once (default 2): each holds a parsed document in memory. */
  readonly maxConcurrent?: number;
  /** Reads waiting for a worker (default 4); beyond that a read fails with PolicyBusyError (503). */
  readonly maxQueued?: number;
  /** A read taking longer is stopped (default 60 s): PolicyTooLargeError (422). */
  readonly timeoutMs?: number;
  /** Heap limit of one worker (default 512 MB): a bigger policy is PolicyTooLargeError. */
  readonly maxHeapMb?: number;
}

// Built, the worker is a JS file beside this one. Under the test runner the sources are
// TypeScript: the worker then registers tsx (a dev dependency) before importing its entry.
const SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(SOURCE ? './policy-worker.ts' : './policy-worker.js', import.meta.url);

function startWorker(job: PolicyJob, maxHeapMb: number): Worker {
  const options = { workerData: job, resourceLimits: { maxOldGenerationSizeMb: maxHeapMb }, execArgv: [] };
  if (!SOURCE) return new Worker(WORKER_URL, options);
  // The ESM build of tsx's API (require.resolve names the CommonJS one beside it).
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

interface PolicyReaderEvents {
  /** A worker started reading (tests and metrics watch it). */
  started: [kind: PolicyJob['kind']];
}

/** Reads policies in worker threads; the main thread only compiles the validated entries. */
export class PolicyReader extends EventEmitter<PolicyReaderEvents> {
  readonly #options: Required<PolicyReaderOptions>;
  readonly #running = new Set<Worker>();
  readonly #queue: (() => void)[] = [];
  #closed = false;

  constructor(options: PolicyReaderOptions = {}) {
    super();
    this.#options = { maxConcurrent: 2, maxQueued: 4, timeoutMs: 60_000, maxHeapMb: 512, ...options };
  }

  /** Policy text that is not on disk (an HTTP body): a snapshot or every issue. */
  async readTexts(texts: readonly { readonly file: string; readonly text: string }[]): Promise<PolicyReadResult> {
    return compileChecked(await this.#run({ kind: 'texts', texts }));
  }

  /** A policy directory (a hot reload). */
  async readDirectory(dir: string, relativeTo?: string): Promise<PolicyReadResult> {
    return compileChecked(
      await this.#run({ kind: 'directory', dir, ...(relativeTo === undefined ? {} : { relativeTo }) }),
    );
  }

  /** Stops every running read; waiting ones fail. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#queue.splice(0)) wake();
    await Promise.all([...this.#running].map((worker) => worker.terminate()));
  }

  async #run(job: PolicyJob): Promise<PolicyCheckResult> {
    if (this.#running.size >= this.#options.maxConcurrent) {
      if (this.#queue.length >= this.#options.maxQueued) throw new PolicyBusyError();
      await new Promise<void>((wake) => this.#queue.push(wake));
    }
    if (this.#closed) throw new PolicyBusyError();
    const worker = startWorker(job, this.#options.maxHeapMb);
    this.#running.add(worker);
    this.emit('started', job.kind);
    try {
      return await new Promise<PolicyCheckResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new PolicyTooLargeError(`took longer than ${Math.round(this.#options.timeoutMs / 1000)} s`));
          void worker.terminate();
        }, this.#options.timeoutMs);
        worker.once('message', (result: PolicyCheckResult) => {
          clearTimeout(timer);
          resolve(result);
        });
        worker.once('error', (error: Error & { code?: string }) => {
          clearTimeout(timer);
          reject(
            error.code === 'ERR_WORKER_OUT_OF_MEMORY'
              ? new PolicyTooLargeError(`needs more than ${this.#options.maxHeapMb} MB`)
              : error,
          );
        });
        worker.once('exit', () => {
          clearTimeout(timer);
          reject(new PolicyBusyError());
        });
      });
    } finally {
      this.#running.delete(worker);
      void worker.terminate();
      this.#queue.shift()?.();
    }
  }
}
