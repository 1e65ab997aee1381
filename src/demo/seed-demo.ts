// Development only: an empty database gets a demo tenant (whether the server or the CLI opens
// it first), and the server's first start gives it two tokens, so `npm start` and the CLI are
// enough to try every endpoint.

import { issueApiToken } from '../auth/api-tokens.js';
import type { PolicySnapshot } from '../policy/types.js';
import type { EntitleStore, WriteContext } from '../store/store.js';
import { TenantOperations } from '../tenants/tenant-operations.js';

export const DEMO_TENANT = 'demo';
export const DEMO_PLAN = 'free';
const SEED: WriteContext = { actor: 'system:seed' };

export interface DemoSeed {
  readonly userToken: string;
  readonly adminToken: string;
}

/** Creates tenant demo on plan free when there is no tenant at all; true when it did. */
export async function seedDemoTenant(store: EntitleStore, policy: PolicySnapshot): Promise<boolean> {
  if (!policy.plans.has(DEMO_PLAN)) return false;
  const { items } = await store.tenants.list({ limit: 1 });
  if (items.length > 0) return false;
  await new TenantOperations({ store, policy: () => policy }).createTenant(
    { id: DEMO_TENANT, name: 'Demo Scheduling Co', plan: DEMO_PLAN },
    SEED,
  );
  return true;
}

/**
 * The server's first start: the demo tenant if the database is empty, then, while the demo
 * tenant has never had a token, a user and an operator token (returned once, never stored
 * in the clear). Undefined when there was nothing to do.
 */
export async function seedDemo(store: EntitleStore, policy: PolicySnapshot): Promise<DemoSeed | undefined> {
  await seedDemoTenant(store, policy);
  if (!(await store.tenants.get(DEMO_TENANT))) return undefined;
  if ((await store.tokens.list({ tenantId: DEMO_TENANT })).length > 0) return undefined;
  const user = await issueApiToken(
    store,
    { tenantId: DEMO_TENANT, userId: 'demo-user', name: 'demo user (seeded)' },
    SEED,
  );
  const admin = await issueApiToken(
    store,
    { tenantId: DEMO_TENANT, userId: 'operator', role: 'admin', name: 'operator (seeded)' },
    SEED,
  );
  return { userToken: user.token, adminToken: admin.token };
}
