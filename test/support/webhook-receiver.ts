// A webhook receiver for tests: https with the test CA (or plain http), loopback only, port 0.
// It verifies every delivery with the `standardwebhooks` package, as a real receiver would.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

const TLS = new URL('../fixtures/tls/', import.meta.url);

export interface ReceivedEvent {
  readonly type: string;
  readonly timestamp: string;
  readonly data: { readonly tenantId: string; readonly sequence: number; readonly [field: string]: unknown };
}

export interface Delivery {
  readonly id: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The event as `standardwebhooks` verified it; undefined when verification failed. */
  readonly event: ReceivedEvent | undefined;
  readonly verifyError: string | undefined;
}

export interface Receiver {
  readonly url: string;
  /** Secrets to verify with (the one shown at registration; more during a rotation). */
  secrets: string[];
  /** Every request, in arrival order. */
  readonly deliveries: Delivery[];
  /** The status to answer the n-th request (1-based) with; default 200. */
  answer: (n: number, delivery: Delivery) => number;
  /** Resolves once `done` holds of the deliveries so far (checked on each arrival). */
  until(done: (deliveries: readonly Delivery[]) => boolean): Promise<Delivery[]>;
  /** Stops listening (senders get connection refused) until {@link resume}. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** `port`: listen on this one (a receiver that comes back where it was). */
export async function startReceiver(options: { https?: boolean; port?: number } = {}): Promise<Receiver> {
  const https = options.https ?? true;
  const arrivals = new EventEmitter();
  const deliveries: Delivery[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(',') : (value ?? ''),
        ]),
      );
      let event: ReceivedEvent | undefined;
      let verifyError: string | undefined;
      for (const secret of receiver.secrets) {
        try {
          event = new Webhook(secret).verify(body, headers) as ReceivedEvent;
          verifyError = undefined;
          break;
        } catch (error) {
          verifyError = (error as Error).message;
        }
      }
      if (receiver.secrets.length === 0) verifyError = 'no secret';
      const delivery: Delivery = { id: headers['webhook-id'] ?? '', headers, body, event, verifyError };
      deliveries.push(delivery);
      res.statusCode = receiver.answer(deliveries.length, delivery);
      res.end('ok');
      arrivals.emit('arrival');
    });
  };
  const server = https
    ? createHttpsServer(
        { key: readFileSync(new URL('server.key', TLS)), cert: readFileSync(new URL('server.crt', TLS)) },
        handler,
      )
    : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    url: `${https ? 'https' : 'http'}://127.0.0.1:${port}/hooks`,
    secrets: [],
    deliveries,
    answer: () => 200,
    until: (done) =>
      new Promise((resolve) => {
        const check = () => {
          if (!done(deliveries)) return;
          arrivals.off('arrival', check);
          resolve([...deliveries]);
        };
        arrivals.on('arrival', check);
        check();
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    resume: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        if (server.listening) server.close(() => resolve());
        else resolve();
      }),
  };
  return receiver;
}

/**
 * Deliveries that verified, of one event type, in the order of their changes (time, then each
 * tenant's sequence): deliveries go out in parallel, so arrival order is not guaranteed.
 */
export const verified = (deliveries: readonly Delivery[], type?: string): ReceivedEvent[] =>
  deliveries
    .map((delivery) => delivery.event)
    .filter((event): event is ReceivedEvent => event !== undefined && (type === undefined || event.type === type))
    .sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.data.sequence - b.data.sequence);
