// The Unleash payload for 10,000 tenants (size, build time; peer: the naive payload with one
// `tenantId IN [...]` list per feature), and memory for 100,000 tenants with overrides, measured
// in fresh child processes (bench/memory-child.ts; peer: a plain Map of the same data).

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { decide } from '../src/entitlements/decide.js';
import { buildUnleashPayload } from '../src/interop/unleash-payload.js';
import { ratio, type Row } from './support/measure.js';
import { buildWorkload, heldTenants } from './support/workload.js';

const run = promisify(execFile);

interface Memory {
  readonly rssBytes: number;
  readonly heapBytes: number;
  readonly overrides: number;
}

/** Runs memory-child.ts in a fresh process with --expose-gc; the same tsx loader as this one. */
async function measure(kind: 'entitle' | 'map'): Promise<Memory> {
  const execArgv = process.execArgv.filter((arg) => arg !== '--expose-gc');
  const { stdout } = await run(
    process.execPath,
    [...execArgv, '--expose-gc', new URL('./memory-child.ts', import.meta.url).pathname, kind],
    { maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Memory;
}

export async function benchMemory(rows: Row[]): Promise<void> {
  const section = 'payload and memory';
  const ten = await buildWorkload({ tenants: 10_000, features: 50, plans: 4, overrideShare: 0.1, questions: 10 });
  const now = Date.now();
  let start = performance.now();
  const { payload } = buildUnleashPayload(ten.policy, heldTenants(ten.directory, ten.tenants), now);
  const bytes = Buffer.byteLength(JSON.stringify(payload));
  const buildMs = performance.now() - start;
  // The naive way: per boolean feature, the list of tenants it is on for.
  start = performance.now();
  const naive = [...ten.policy.features.values()]
    .filter((feature) => feature.type === 'boolean')
    .map((feature) => ({
      name: feature.key,
      constraints: [
        {
          contextName: 'tenantId',
          operator: 'IN',
          values: [...heldTenants(ten.directory, ten.tenants)]
            .filter((tenant) => decide(ten.policy, tenant, feature.key, now)?.value === true)
            .map((tenant) => tenant.id),
        },
      ],
    }));
  const naiveBytes = Buffer.byteLength(JSON.stringify(naive));
  const naiveMs = performance.now() - start;
  const booleans = naive.length;
  rows.push({
    section,
    name: `naive Unleash payload: tenantId IN [granted] per feature, 10,000 tenants × ${booleans}`,
    value: `${(naiveBytes / 1024).toFixed(0)} KiB, built in ${naiveMs.toFixed(0)} ms`,
    raw: { bytes: naiveBytes, buildMs: naiveMs },
  });
  rows.push({
    section,
    name: `Entitle Unleash payload (plan segments + override lists), same tenants`,
    value: `${(bytes / 1024).toFixed(0)} KiB, built in ${buildMs.toFixed(0)} ms`,
    ratio: ratio(bytes, naiveBytes),
    peer: 'naive payload (size)',
    target: '< 1 MB',
    met: bytes < 1_000_000,
    raw: { bytes, buildMs },
  });

  const [ours, map] = [await measure('entitle'), await measure('map')];
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  rows.push({
    section,
    name: `plain Map of the same 100,000 tenants (${map.overrides.toLocaleString('en')} overrides)`,
    value: `RSS +${mib(map.rssBytes)}, heap +${mib(map.heapBytes)}`,
    raw: { ...map },
  });
  rows.push({
    section,
    name: '100,000 tenants in the directory, every decision made once',
    value: `RSS +${mib(ours.rssBytes)}, heap +${mib(ours.heapBytes)}`,
    ratio: ratio(ours.rssBytes, map.rssBytes),
    peer: 'plain Map (RSS)',
    raw: { ...ours },
  });
}
