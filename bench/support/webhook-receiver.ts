// A webhook receiver in a process of its own (so its work is not the bench's event loop's, as a
// real receiver's is not the server's): listens on loopback, verifies every delivery with
// `standardwebhooks`, answers 204. IPC: `ready` {url}; `secret` {secret}; `until` {count}
// answers once that many deliveries arrived, with how many verified and failed; `stop`.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

let verifier: Webhook | undefined;
let verified = 0;
let failed = 0;
let waiting: number | undefined;

const send = (message: object) => process.send?.(message);
const answerWaiter = () => {
  if (waiting === undefined || verified + failed < waiting) return;
  waiting = undefined;
  send({ type: 'until', verified, failed });
};

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    try {
      if (!verifier) throw new Error('no secret yet');
      verifier.verify(Buffer.concat(chunks).toString(), req.headers as Record<string, string>);
      verified++;
    } catch {
      failed++;
    }
    res.statusCode = 204;
    res.end();
    answerWaiter();
  });
});

process.on('message', (message: { type: string; secret?: string; count?: number }) => {
  if (message.type === 'secret') {
    verifier = new Webhook(message.secret ?? '');
    send({ type: 'secret' });
  } else if (message.type === 'until') {
    waiting = message.count ?? 0;
    answerWaiter();
  } else if (message.type === 'stop') server.close(() => process.exit(0));
});

server.listen(0, '127.0.0.1', () =>
  send({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks` }),
);
