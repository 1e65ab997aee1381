// The server under test for bench/http.ts, in a process of its own so that autocannon (in the
// bench process) does not share its event loop. `bare`: a bare fastify route, the peer.
// `app`: the Entitle app with 10,000 tenants (10% with overrides) and two bench routes.
// Speaks over IPC: sends `ready` with what the load needs, answers `cpu` with its CPU usage.

import Fastify, { type FastifyInstance } from 'fastify';
import { buildTestApp, NO_RATE_LIMITS } from '../test/support/app.js';
import { random } from './support/workload.js';

export interface ServerReady {
  readonly type: 'ready';
  readonly url: string;
  readonly tokens?: { readonly allowed: string; readonly denied: string; readonly admin: string };
  readonly unleash?: { readonly etag: string; readonly bytes: number; readonly tenants: number };
}

const BODY = { ok: true, items: [1, 2, 3] };
const TENANTS = 10_000;

async function bare(): Promise<{ url: string; close: () => Promise<void> }> {
  const app = Fastify({ logger: false });
  app.get('/route', async () => BODY);
  return { url: await app.listen({ host: '127.0.0.1', port: 0 }), close: () => app.close() };
}

async function entitle(): Promise<Omit<ServerReady, 'type'> & { close: () => Promise<void> }> {
  const t = await buildTestApp({
    // One principal drives the whole load: the limiter runs (its cost is measured) but never trips.
    env: { ENTITLE_DB: ':memory:', ...NO_RATE_LIMITS },
    routes: (app: FastifyInstance) => {
      app.get('/bench/auth', { config: { auth: 'required' } }, async () => BODY);
      app.get('/bench/gated', { config: { auth: 'required', feature: 'can_use_calendar_sync' } }, async () => BODY);
    },
  });
  const { operations, policy } = t.app.entitle;
  const next = random(7);
  const features = [...policy.snapshot.features.values()]
    .filter((feature) => feature.type === 'boolean')
    .map((feature) => feature.key);
  const ctx = { actor: 'bench' };
  for (let i = 0; i < TENANTS; i++) {
    await operations.createTenant({ id: `t${i}`, plan: i % 2 === 0 ? 'pro' : 'free' }, ctx);
    // t0 and t1 are the callers below: their decisions come from their plans.
    if (i > 1 && next() < 0.1)
      await operations.setOverride(
        {
          tenantId: `t${i}`,
          feature: features[Math.floor(next() * features.length)] as string,
          value: next() < 0.5,
          reason: 'bench',
        },
        ctx,
      );
  }
  const tokens = {
    allowed: await t.token('t0', 'alice'),
    denied: await t.token('t1', 'bob'),
    admin: await t.token('ops', 'olivia', { role: 'admin' }),
  };
  const features200 = await t.app.inject({ method: 'GET', url: '/api/client/features', headers: t.auth(tokens.admin) });
  const url = await t.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    tokens,
    unleash: { etag: features200.headers.etag as string, bytes: features200.rawPayload.length, tenants: TENANTS + 1 },
    close: () => t.close(),
  };
}

async function main(): Promise<void> {
  const server = process.argv[2] === 'bare' ? await bare() : await entitle();
  const { close, ...ready } = server;
  process.on('message', (message: { type: string }) => {
    if (message.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
    if (message.type === 'stop') void close().then(() => process.exit(0));
  });
  process.send?.({ type: 'ready', ...ready } satisfies ServerReady);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
