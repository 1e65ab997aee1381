// Development only: on first start with an empty database, a demo tenant and two tokens, so
// `npm start` is enough to try every endpoint.

import { issueApiToken } from '../auth/api-tokens.js';
import type { EntitleServices } from '../services.js';

export const DEMO_TENANT = 'demo';

export interface DemoSeed {
  readonly userToken: string;
  readonly adminToken: string;
}

/** Seeds when there is no tenant at all; returns the tokens (shown once), or undefined when nothing was seeded. */
export async function seedDemo(services: Pick<EntitleServices, 'store' | 'operations'>): Promise<DemoSeed | undefined> {
  const { items } = await services.store.tenants.list({ limit: 1 });
  if (items.length > 0) return undefined;
  const context = { actor: 'system:seed' };
  await services.operations.createTenant({ id: DEMO_TENANT, name: 'Demo Scheduling Co', plan: 'free' }, context);
  const user = await issueApiToken(services.store, { tenantId: DEMO_TENANT, userId: 'demo-user', name: 'demo user (seeded)' }, context);
  const admin = await issueApiToken(services.store, { tenantId: DEMO_TENANT, userId: 'operator', role: 'admin', name: 'operator (seeded)' }, context);
  return { userToken: user.token, adminToken: admin.token };
}
