// One HTTP attempt of a webhook: POST the body with its signed headers, 10 s at most, no
// redirect followed, at most a few KiB of the answer read. Never throws: it reports what happened.

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { SYSTEM_TARGETS, safeLookup, targetProblem, type WebhookTargets } from './safe-target.js';

/** How long an attempt may take, connection to last byte. */
export const ATTEMPT_TIMEOUT_MS = 10_000;
/** How much of a receiver's answer is read (kept for the delivery log). */
export const RESPONSE_LIMIT_BYTES = 4096;

export interface AttemptOutcome {
  /** The HTTP status, or null when no answer came (refused, timed out, unsafe target…). */
  readonly status: number | null;
  /** What went wrong, for the delivery log; null on a 2xx. */
  readonly error: string | null;
  readonly latencyMs: number;
}

export interface SendOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly allowPrivate: boolean;
  readonly timeoutMs?: number;
  /** How the host resolves and which addresses are private (default: the system's DNS). */
  readonly targets?: WebhookTargets;
}

export async function sendWebhook(options: SendOptions): Promise<AttemptOutcome> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const problem = targetProblem(options.url, options.allowPrivate);
  if (problem) return { status: null, error: `unsafe target: url ${problem}`, latencyMs: 0 };
  const url = new URL(options.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const targets = options.targets ?? SYSTEM_TARGETS;
  if (!options.allowPrivate && isIP(host) !== 0 && targets.isPrivate(host))
    return { status: null, error: 'unsafe target: private address', latencyMs: 0 };
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<AttemptOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<AttemptOutcome, 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, latencyMs: elapsed() });
    };
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          ...options.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(options.body),
          'user-agent': 'Entitle-Webhooks/1',
        },
        lookup: safeLookup(options.allowPrivate, targets.lookup, targets.isPrivate),
        // One connection per attempt: no pooled socket outlives a check of its address.
        agent: false,
      },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          if (read < RESPONSE_LIMIT_BYTES) chunks.push(chunk.subarray(0, RESPONSE_LIMIT_BYTES - read));
          read += chunk.length;
          if (read >= RESPONSE_LIMIT_BYTES) {
            res.destroy();
            done();
          }
        });
        const done = () => {
          const text = Buffer.concat(chunks).toString('utf8').slice(0, 200);
          const ok = status >= 200 && status < 300;
          finish({ status, error: ok ? null : `HTTP ${status}${text ? `: ${text}` : ''}` });
        };
        res.on('end', done);
        res.on('error', done);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      finish({ status: null, error: `no answer in ${options.timeoutMs ?? ATTEMPT_TIMEOUT_MS} ms` });
    }, options.timeoutMs ?? ATTEMPT_TIMEOUT_MS);
    req.on('error', (error: NodeJS.ErrnoException) =>
      finish({
        status: null,
        error: error.code === 'ENT_UNSAFE_TARGET' ? `unsafe target: ${error.message}` : (error.code ?? error.message),
      }),
    );
    req.end(options.body);
  });
}
