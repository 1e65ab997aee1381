// A server-sent events client for tests: opens a stream over real HTTP and hands out events as
// they arrive (awaited, never slept for).

import { request, type IncomingMessage } from 'node:http';

export interface SseEvent {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  /** Comment lines (heartbeats), without the colon. */
  readonly comment?: string;
}

export interface SseStream {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  /** The body of a refused stream (JSON error). */
  readonly body: string;
  /** Resolves with the next event matching, or rejects when the stream ends first. */
  next(matches?: (event: SseEvent) => boolean): Promise<SseEvent>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      res.setEncoding('utf8');
      const queue: SseEvent[] = [];
      const waiters: {
        matches: (event: SseEvent) => boolean;
        resolve: (event: SseEvent) => void;
        reject: (error: Error) => void;
      }[] = [];
      let buffer = '';
      let body = '';
      let finished = false;
      let markEnded: () => void = () => {};
      const ended = new Promise<void>((done) => (markEnded = done));
      const deliver = (event: SseEvent) => {
        const index = waiters.findIndex((waiter) => waiter.matches(event));
        if (index >= 0) waiters.splice(index, 1)[0]?.resolve(event);
        else queue.push(event);
      };
      res.on('data', (chunk: string) => {
        if (res.statusCode !== 200) {
          body += chunk;
          return;
        }
        buffer += chunk;
        let split: number;
        while ((split = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, split);
          buffer = buffer.slice(split + 2);
          const event: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) deliver({ comment: line.slice(1).trim() });
            else {
              const colon = line.indexOf(':');
              if (colon > 0) event[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
            }
          }
          if (event.data !== undefined || event.event !== undefined)
            deliver({ id: event.id, event: event.event, data: event.data });
        }
      });
      res.on('close', () => {
        finished = true;
        for (const waiter of waiters.splice(0)) waiter.reject(new Error('the stream ended'));
        markEnded();
      });
      const stream: SseStream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        get body() {
          return body;
        },
        ended,
        next(matches = (event) => event.data !== undefined) {
          const index = queue.findIndex(matches);
          if (index >= 0) return Promise.resolve(queue.splice(index, 1)[0] as SseEvent);
          if (finished) return Promise.reject(new Error('the stream ended'));
          return new Promise((resolveEvent, rejectEvent) =>
            waiters.push({ matches, resolve: resolveEvent, reject: rejectEvent }),
          );
        },
        close: () => req.destroy(),
      };
      if (res.statusCode !== 200) res.on('end', () => resolve(stream));
      else resolve(stream);
    });
    req.on('error', reject);
    req.end();
  });
}
