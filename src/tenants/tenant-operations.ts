// Tenant and override writes checked against the policy in force. The CLI and the admin API
// both go through here, so they accept and reject exactly the same things.

import {
  AddonNotAvailableError,
  AddonNotFoundError,
  FeatureNotFoundError,
  InvalidInputError,
  PlanNotFoundError,
  TenantNotFoundError,
} from '../errors.js';
import type { FeatureValue, PolicySnapshot } from '../policy/types.js';
import { valueProblem } from '../policy/validate.js';
import type { EntitleStore, Override, Tenant, TenantAddon, WriteCondition, WriteContext } from '../store/store.js';

/** What the operations need: the store and the policy in force. */
export interface TenantOperationsDeps {
  readonly store: Pick<EntitleStore, 'tenants' | 'overrides' | 'addons'>;
  readonly policy: () => PolicySnapshot;
  readonly clock?: () => number;
}

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const MAX_REASON = 500;
const MAX_NAME = 200;
/** The most units of one add-on a tenant may hold: a bound on what one write can give. */
export const MAX_ADDON_QUANTITY = 10_000;

export interface CreateTenantInput {
  readonly id: string;
  readonly name?: string;
  readonly plan: string;
}

export interface SetOverrideInput {
  readonly tenantId: string;
  readonly feature: string;
  readonly value: unknown;
  readonly reason: string;
  /** ISO 8601 in the future, or null/undefined for no expiry. */
  readonly expiresAt?: string | null;
}

export class TenantOperations {
  constructor(private readonly deps: TenantOperationsDeps) {}

  createTenant(input: CreateTenantInput, context: WriteContext): Promise<Tenant> {
    checkTenantId(input.id);
    const name = (input.name ?? input.id).trim();
    if (name.length === 0 || name.length > MAX_NAME)
      throw new InvalidInputError(`name: must be 1 to ${MAX_NAME} characters`);
    const planVersion = this.#currentVersion(input.plan);
    return this.deps.store.tenants.create({ id: input.id, name, plan: input.plan, planVersion }, context);
  }

  /**
   * Moves a tenant to a plan at its current version. A tenant already on the plan stays on its
   * version: moving versions is a migration (`entitle plans migrate`).
   */
  async changePlan(tenantId: string, plan: string, context: WriteContext): Promise<{ before: Tenant; after: Tenant }> {
    const planVersion = this.#currentVersion(plan);
    const tenant = await this.deps.store.tenants.get(tenantId);
    if (!tenant) throw new TenantNotFoundError(tenantId);
    const placement = tenant.plan === plan ? { plan, planVersion: tenant.planVersion } : { plan, planVersion };
    return this.deps.store.tenants.setPlan(tenantId, placement, context);
  }

  /**
   * Holds `quantity` of an add-on. Refused when the policy has no such add-on, the quantity is not
   * a whole number from 1 to MAX_ADDON_QUANTITY, or the tenant's plan may not hold it.
   */
  async setAddon(
    tenantId: string,
    addon: string,
    quantity: unknown,
    context: WriteContext,
  ): Promise<{ before: TenantAddon | undefined; after: TenantAddon }> {
    const definition = this.deps.policy().addons.get(addon);
    if (!definition) throw new AddonNotFoundError(addon);
    if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > MAX_ADDON_QUANTITY)
      throw new InvalidInputError(`quantity: must be a whole number from 1 to ${MAX_ADDON_QUANTITY}`);
    const tenant = await this.deps.store.tenants.get(tenantId);
    if (!tenant) throw new TenantNotFoundError(tenantId);
    if (definition.availableOn && !definition.availableOn.includes(tenant.plan))
      throw new AddonNotAvailableError(addon, tenant.plan);
    return this.deps.store.addons.set(tenantId, addon, quantity, context);
  }

  /** Stops holding an add-on. Throws AddonNotHeldError when the tenant does not hold it. */
  removeAddon(tenantId: string, addon: string, context: WriteContext): Promise<TenantAddon> {
    return this.deps.store.addons.remove(tenantId, addon, context);
  }

  deleteTenant(tenantId: string, context: WriteContext): Promise<Tenant> {
    return this.deps.store.tenants.delete(tenantId, context);
  }

  setOverride(
    input: SetOverrideInput,
    context: WriteContext,
    condition?: WriteCondition,
  ): Promise<{ before: Override | undefined; after: Override }> {
    const feature = this.deps.policy().features.get(input.feature);
    if (!feature) throw new FeatureNotFoundError(input.feature);
    const problem = valueProblem(input.value, feature.type, feature);
    if (problem) throw new InvalidInputError(`value: ${problem}`);
    const reason = typeof input.reason === 'string' ? input.reason.trim() : '';
    if (reason.length === 0)
      throw new InvalidInputError('reason: required (say why this tenant differs from its plan)');
    if (reason.length > MAX_REASON) throw new InvalidInputError(`reason: at most ${MAX_REASON} characters`);
    const expiresAt = this.#checkExpiry(input.expiresAt);
    return this.deps.store.overrides.set(
      { tenantId: input.tenantId, feature: input.feature, value: input.value as FeatureValue, reason, expiresAt },
      context,
      condition,
    );
  }

  clearOverride(
    tenantId: string,
    feature: string,
    context: WriteContext & { reason?: string },
    condition?: WriteCondition,
  ): Promise<Override> {
    return this.deps.store.overrides.clear(tenantId, feature, context, condition);
  }

  /** The plan's current version; throws PlanNotFoundError for a plan the policy lacks. */
  #currentVersion(plan: string): number {
    const definition = this.deps.policy().plans.get(plan);
    if (!definition) throw new PlanNotFoundError(plan);
    return definition.version;
  }

  #checkExpiry(expiresAt: string | null | undefined): string | null {
    if (expiresAt === undefined || expiresAt === null) return null;
    const ms =
      typeof expiresAt === 'string' && ISO_TIMESTAMP.test(expiresAt) && isCalendarDate(expiresAt)
        ? Date.parse(expiresAt)
        : Number.NaN;
    if (Number.isNaN(ms))
      throw new InvalidInputError('expiresAt: must be an ISO 8601 timestamp such as 2030-01-31T00:00:00Z');
    if (ms <= (this.deps.clock ?? Date.now)()) throw new InvalidInputError('expiresAt: must be in the future');
    return new Date(ms).toISOString();
  }
}

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** Whether the date part names a real day: Date.parse reads 2030-02-30 as March 2nd. */
function isCalendarDate(timestamp: string): boolean {
  const [year, month, day] = timestamp.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** Throws a 400 naming the field when a tenant id is not acceptable. */
export function checkTenantId(id: string): void {
  if (typeof id !== 'string' || !TENANT_ID_PATTERN.test(id)) {
    throw new InvalidInputError(
      'id: tenant ids are 1 to 64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  }
}
