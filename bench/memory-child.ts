// One memory measurement in a fresh process (run with --expose-gc): the tenants are generated
// first and stay alive throughout, so only what is built from them counts. `entitle`: the
// tenant directory the service holds, plus every decision made once (the decision tables).
// `map`: the peer, a plain Map of the same data (objects copied, strings shared as ours are).
// Prints one JSON line: { rssBytes, heapBytes, overrides }.

import { decideAll } from '../src/entitlements/decide.js';
import type { TenantSnapshot } from '../src/store/store.js';
import { compile, directoryOf, generatePolicyText, generateTenants, heldTenants, random } from './support/workload.js';

const TENANTS = 100_000;

async function main(): Promise<void> {
  const gc = globalThis.gc;
  if (!gc) throw new Error('run with --expose-gc');
  const policy = compile(generatePolicyText(50, 4));
  const tenants = generateTenants(policy, { tenants: TENANTS, overrideShare: 0.1 }, random(42));
  const settle = () => {
    gc();
    gc();
    return process.memoryUsage();
  };
  const before = settle();
  let state: unknown;
  if (process.argv[2] === 'map') {
    state = new Map(
      tenants.map(({ tenant, overrides }): [string, TenantSnapshot] => [
        tenant.id,
        { tenant: { ...tenant }, overrides: overrides.map((o) => ({ ...o })) },
      ]),
    );
  } else {
    const directory = await directoryOf(tenants);
    const now = Date.now();
    for (const tenant of heldTenants(directory, tenants)) decideAll(policy, tenant, now);
    state = directory;
  }
  const after = settle();
  const overrides = tenants.reduce((sum, tenant) => sum + tenant.overrides.length, 0);
  console.log(
    JSON.stringify({
      rssBytes: after.rss - before.rss,
      heapBytes: after.heapUsed - before.heapUsed,
      overrides,
      kept: state !== undefined,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
