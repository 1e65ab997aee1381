// Outbound webhooks: how many events per second go from a change to a verified delivery at a
// local receiver (real store, outbox, delivery worker and HTTP; the receiver verifies each with
// `standardwebhooks`), and what webhooks cost an override write: writes/s with an endpoint
// subscribed to entitlements.changed against the same store with no endpoint, rounds alternating.
// As shipped, both stores have their delivery worker running (the server always starts it); a
// round with the endpoint ends only once the receiver has verified every event of the round, so
// work the worker defers is counted. The write path alone (worker stopped) is measured too.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { TokenCipher } from '../src/secrets/token-crypto.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { TenantOperations } from '../src/tenants/tenant-operations.js';
import { DeliveryWorker } from '../src/webhooks/delivery-worker.js';
import { webhookDescriber } from '../src/webhooks/webhook-events.js';
import { Webhooks } from '../src/webhooks/webhooks.js';
import type { PolicySnapshot } from '../src/policy/types.js';
import { forkChild } from './support/child.js';
import { median, ratio, type Row } from './support/measure.js';
import { compile, generatePolicyText } from './support/workload.js';

/** Seals the endpoint's signing secret, as the server does. */
const cipher = new TokenCipher(new Map([['bench', randomBytes(32)]]), 'bench');

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const TENANTS = 100;
const ROUNDS = 4;
const WRITES_PER_ROUND = 300;
const EVENTS = 500;

/** One override write (feature_0 toggled for each tenant in turn). */
const write = (operations: TenantOperations, n: number) =>
  operations.setOverride(
    { tenantId: `t${n % TENANTS}`, feature: 'feature_0', value: Math.floor(n / TENANTS) % 2 === 0, reason: 'bench' },
    { actor: 'bench' },
  );

async function openStore(policy: PolicySnapshot, name: string) {
  const store = SqliteStore.open({ path: join(mkdtempSync(join(tmpdir(), 'entitle-bench-hooks-')), `${name}.db`) });
  store.outbox.describeWith(webhookDescriber({ policy: () => policy }));
  const operations = new TenantOperations({ store, policy: () => policy });
  for (let i = 0; i < TENANTS; i++) await operations.createTenant({ id: `t${i}`, plan: 'plan_0' }, { actor: 'bench' });
  // Each tenant gets its override before any endpoint exists: from then on every write changes a decision.
  for (let i = 0; i < TENANTS; i++) await write(operations, i);
  const webhooks = new Webhooks({
    endpoints: store.webhooks,
    outbox: store.outbox,
    clock: Date.now,
    allowPrivate: true,
    maxEndpointsPerPrincipal: 10,
    secretOverlapMs: 0,
    cipher,
  });
  return { store, operations, webhooks };
}

const workerFor = (store: SqliteStore) =>
  new DeliveryWorker({
    outbox: store.outbox,
    clock: Date.now,
    logger: quiet,
    retryScheduleMs: [1000],
    allowPrivate: true,
    disableAfter: 5,
    cipher,
  });

/**
 * Rounds of writes to each store in turn. Per store: writes/s as the writes return, and writes/s
 * counting until `settle` is done too (the receiver verified the round's events).
 */
async function alternate(
  stores: readonly { operations: TenantOperations; settle: (written: number) => Promise<void> }[],
): Promise<{ returned: number; settled: number }[]> {
  const returned: number[][] = stores.map(() => []);
  const settled: number[][] = stores.map(() => []);
  let n = TENANTS;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, target] of stores.entries()) {
      const start = performance.now();
      for (let i = 0; i < WRITES_PER_ROUND; i++) await write(target.operations, n + i);
      returned[index]?.push((WRITES_PER_ROUND * 1000) / (performance.now() - start));
      await target.settle((round + 1) * WRITES_PER_ROUND);
      settled[index]?.push((WRITES_PER_ROUND * 1000) / (performance.now() - start));
    }
    n += WRITES_PER_ROUND;
  }
  return stores.map((_, index) => ({ returned: median(returned[index] ?? []), settled: median(settled[index] ?? []) }));
}

/** What webhooks cost an override write: as shipped (workers running), and the write path alone. */
async function writeCost(policy: PolicySnapshot, section: string, rows: Row[]): Promise<void> {
  // As shipped: both stores' workers run; the endpoint's receiver (its own process) verifies every event.
  const bare = await openStore(policy, 'bare');
  const hooked = await openStore(policy, 'hooked');
  const receiver = await forkChild<{ url: string }>(new URL('./support/webhook-receiver.ts', import.meta.url), []);
  const { secret } = await hooked.webhooks.create(
    { url: receiver.ready.url, events: ['entitlements.changed'] },
    { actor: 'bench' },
  );
  await receiver.ask('secret', { secret });
  let arrived = { verified: 0, failed: 0 };
  const workers = [workerFor(bare.store), workerFor(hooked.store)];
  workers.forEach((worker) => worker.start());
  const [without, withHooks] = await alternate([
    { operations: bare.operations, settle: async () => {} },
    {
      operations: hooked.operations,
      settle: async (written) => {
        arrived = await receiver.ask('until', { count: written });
      },
    },
  ]);
  await Promise.all(workers.map((worker) => worker.close()));
  const { verified: delivered, failed: refused } = arrived;
  // The write path alone: the same stores with their workers stopped (the endpoint still subscribed).
  const [bareAlone, hookedAlone] = await alternate([
    { operations: bare.operations, settle: async () => {} },
    { operations: hooked.operations, settle: async () => {} },
  ]);
  await receiver.stop();
  await Promise.all([bare.store.close(), hooked.store.close()]);
  const bareRate = without?.returned ?? 0;
  const figures: [string, number, number, string?][] = [
    ['override write, no webhook endpoint (worker running)', bareRate, 0],
    [
      'override write + entitlements.changed, worker sending meanwhile (as writes return)',
      withHooks?.returned ?? 0,
      bareRate,
      '≥ 0.90×',
    ],
    [
      `… counted until the receiver verified each (${delivered.toLocaleString('en')} delivered, ${refused} refused)`,
      withHooks?.settled ?? 0,
      bareRate,
    ],
    ['override write, no webhook endpoint (write path alone, worker stopped)', bareAlone?.returned ?? 0, 0],
    [
      'override write, endpoint subscribed (write path alone, worker stopped)',
      hookedAlone?.returned ?? 0,
      bareAlone?.returned ?? 0,
    ],
  ];
  for (const [name, rate, peer, target] of figures)
    rows.push({
      section,
      name,
      value: `${Math.round(rate).toLocaleString('en')} writes/s`,
      ...(peer > 0 ? { ratio: ratio(rate, peer), peer: 'no endpoint' } : {}),
      ...(target ? { target, met: rate >= 0.9 * peer } : {}),
      raw: { writesPerSecond: rate },
    });
}

export async function benchWebhooks(rows: Row[]): Promise<void> {
  const policy = compile(generatePolicyText(50, 4));
  const section = `webhooks (SQLite, WAL, ${TENANTS} tenants, 50 features)`;
  await writeCost(policy, section, rows);

  // Change → verified delivery: EVENTS writes as fast as they return, a worker sending them.
  const { store, operations, webhooks } = await openStore(policy, 'delivery');
  let verified = 0;
  let failed = 0;
  let secret = '';
  const latencies: number[] = [];
  const writtenAt = new Map<string, number>();
  let allArrived: () => void = () => {};
  const arrived = new Promise<void>((resolve) => (allArrived = resolve));
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        const event = new Webhook(secret).verify(
          Buffer.concat(chunks).toString(),
          req.headers as Record<string, string>,
        ) as {
          data: { tenantId: string; sequence: number };
        };
        verified++;
        const at = writtenAt.get(`${event.data.tenantId}:${event.data.sequence}`);
        if (at !== undefined) latencies.push(performance.now() - at);
      } catch {
        failed++;
      }
      res.statusCode = 204;
      res.end();
      if (verified + failed >= EVENTS) allArrived();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  secret = (
    await webhooks.create(
      { url: `http://127.0.0.1:${port}/hooks`, events: ['entitlements.changed'] },
      { actor: 'bench' },
    )
  ).secret;
  const worker = new DeliveryWorker({
    outbox: store.outbox,
    clock: Date.now,
    logger: quiet,
    retryScheduleMs: [1000],
    allowPrivate: true,
    disableAfter: 5,
    cipher,
  });
  worker.start();
  const sequences = new Map<string, number>();
  const start = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    const tenant = `t${i % TENANTS}`;
    await write(operations, TENANTS + i);
    const sequence = (sequences.get(tenant) ?? 0) + 1;
    sequences.set(tenant, sequence);
    writtenAt.set(`${tenant}:${sequence}`, performance.now());
  }
  await arrived;
  const elapsed = performance.now() - start;
  await worker.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await store.close();
  const rate = (verified * 1000) / elapsed;
  rows.push({
    section,
    name: `change → verified delivery, ${EVENTS} events to a local receiver`,
    value: `${Math.round(rate).toLocaleString('en')} events/s`,
    raw: { eventsPerSecond: rate, verified, failed },
  });
  rows.push({
    section,
    name: `write returned → receiver verified it (median, under the burst; ${failed} failed verification)`,
    value: `${median(latencies).toFixed(1)} ms`,
    raw: { medianMs: median(latencies), failed },
  });
}
