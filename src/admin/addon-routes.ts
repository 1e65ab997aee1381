// A tenant's add-ons for operators: hold a quantity of one, stop holding it, list them. The
// tenant's plan must be one the add-on is available on.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf, principalOf } from '../auth/principal.js';
import { TenantNotFoundError } from '../errors.js';
import type { EntitleStore } from '../store/store.js';
import { MAX_ADDON_QUANTITY, type TenantOperations } from '../tenants/tenant-operations.js';
import { ADMIN, ErrorBody, FeatureKey, LIMITED_ERRORS, TenantId, TenantParams } from './admin-schemas.js';

const AddonParams = Type.Object({ tenant: TenantId, addon: FeatureKey });

const TenantAddonBody = Type.Object({
  tenantId: Type.String(),
  addon: Type.String(),
  quantity: Type.Integer({ minimum: 1 }),
  createdAt: Type.String({ description: 'ISO 8601' }),
  updatedAt: Type.String({ description: 'ISO 8601' }),
  billing: Type.Optional(
    Type.Object(
      { provider: Type.String(), subscriptionId: Type.String() },
      { description: 'the subscription whose items give it; absent when an operator set it' },
    ),
  ),
});

const SetAddonBody = Type.Object(
  { quantity: Type.Integer({ minimum: 1, maximum: MAX_ADDON_QUANTITY, description: 'units held' }) },
  { additionalProperties: false },
);

/** What the add-on routes use. */
export interface AddonRoutesOptions {
  readonly store: Pick<EntitleStore, 'addons' | 'tenants'>;
  readonly operations: TenantOperations;
}

export const addonRoutes: FastifyPluginAsyncTypebox<AddonRoutesOptions> = async (fastify, { store, operations }) => {
  const tags = ['tenants'];

  fastify.get(
    '/tenants/:tenant/addons',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: "A tenant's add-ons with their quantities",
        params: TenantParams,
        response: {
          ...LIMITED_ERRORS,
          200: Type.Object({ items: Type.Array(TenantAddonBody) }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (request) => {
      const { tenant } = request.params;
      if (!(await store.tenants.get(tenant))) throw new TenantNotFoundError(tenant);
      return { items: [...(await store.addons.list(tenant))] };
    },
  );

  fastify.put(
    '/tenants/:tenant/addons/:addon',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Hold a quantity of an add-on (replacing the quantity held)',
        params: AddonParams,
        body: SetAddonBody,
        response: {
          ...LIMITED_ERRORS,
          200: Type.Object({ before: Type.Union([TenantAddonBody, Type.Null()]), after: TenantAddonBody }),
          400: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
        },
      },
    },
    async (request) => {
      const { tenant, addon } = request.params;
      const { before, after } = await operations.setAddon(tenant, addon, request.body.quantity, {
        actor: actorOf(principalOf(request)),
        requestId: request.id,
      });
      return { before: before ?? null, after };
    },
  );

  fastify.delete(
    '/tenants/:tenant/addons/:addon',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Stop holding an add-on',
        params: AddonParams,
        response: { ...LIMITED_ERRORS, 200: Type.Object({ removed: TenantAddonBody }), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const { tenant, addon } = request.params;
      const removed = await operations.removeAddon(tenant, addon, {
        actor: actorOf(principalOf(request)),
        requestId: request.id,
      });
      return { removed };
    },
  );
};
