// For apps (tenant token): every feature of the caller's tenant in one call, to hide or badge
// features in a UI; and a preflight for numeric limits ("may I add N more?") that consumes nothing.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { AUTH_ERRORS, ErrorBody, FeatureValueSchema } from '../http/schemas.js';
import { principalOf } from '../auth/principal.js';
import { FeatureNotFoundError, InvalidInputError } from '../errors.js';
import type { PolicySnapshot } from '../policy/types.js';
import type { TenantPlan } from './decide.js';
import { upgradeAdvice } from './explain.js';
import { allowedCount, fitsLimit } from './limits.js';

/** Counts what a numeric limit limits, for one tenant (e.g. its connected calendars). */
export type UsageCounter = (tenantId: string) => Promise<number>;

export interface EntitlementRoutesOptions {
  /** The policy in force. */
  readonly policy: () => PolicySnapshot;
  /** A tenant's plan now, and what billing made of it, from the tenant directory (read when not in memory). */
  readonly planOf: (tenantId: string) => TenantPlan | undefined | Promise<TenantPlan | undefined>;
  /** The limits the server can count itself, by feature key. */
  readonly counters: Readonly<Record<string, UsageCounter>>;
}

const PreflightBody = Type.Object(
  {
    feature: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'a number feature, e.g. max_connected_calendars',
    }),
    add: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        default: 1,
        description: 'how many more the tenant wants to add',
      }),
    ),
    current: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000_000,
        description: 'how many the tenant has now, for limits the server does not count',
      }),
    ),
  },
  { additionalProperties: false },
);

const FeatureEntry = Type.Object({
  name: Type.String(),
  type: Type.String(),
  value: FeatureValueSchema,
  enabled: Type.Boolean({
    description: 'whether the value gives the feature (true, a limit above 0, a non-empty string)',
  }),
  cause: Type.Union([Type.String(), Type.Null()], {
    description:
      'IN_PLAN, NOT_IN_PLAN, GRANTED_BY_OVERRIDE, REVOKED_BY_OVERRIDE, NOT_RELEASED, DEFAULT…, or an evaluation error code',
  }),
  requiredPlan: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description:
        'when off: the lowest plan that has it; null when no upgrade would help (an override or a release toggle decides)',
    }),
  ),
  message: Type.Optional(
    Type.String({ description: "when off and an upgrade would help: the feature's upgrade message" }),
  ),
  limit: Type.Optional(
    Type.Union([Type.Integer(), Type.Literal('unlimited')], {
      description: "meters: the period's allowance (the value is what remains)",
    }),
  ),
  used: Type.Optional(Type.Integer({ description: 'meters: units consumed in the period' })),
  remaining: Type.Optional(
    Type.Union([Type.Integer(), Type.Literal('unlimited')], {
      description: 'meters: units that can still be consumed',
    }),
  ),
  unit: Type.Optional(Type.String({ description: 'meters: the unit, e.g. SMS' })),
  resetsAt: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'meters: when the allowance starts afresh; null for a lifetime allowance',
    }),
  ),
});

const EntitlementsBody = Type.Object({
  tenant: Type.String(),
  plan: Type.Union([Type.String(), Type.Null()]),
  planVersion: Type.Union([Type.Integer(), Type.Null()], { description: 'the version of the plan the tenant is on' }),
  billing: Type.Optional(
    Type.Object(
      {
        cause: Type.String({ description: 'ACTIVE, TRIAL, CANCELING, GRACE_PERIOD or ENDED' }),
        status: Type.String({ description: "the deciding subscription's status" }),
      },
      { description: 'present when billing decides the plan' },
    ),
  ),
  trial: Type.Optional(
    Type.Object(
      { endsAt: Type.String({ format: 'date-time' }) },
      { description: 'trialing: the trial ends at endsAt' },
    ),
  ),
  gracePeriod: Type.Optional(
    Type.Object(
      { endsAt: Type.String({ format: 'date-time' }) },
      { description: 'a payment failed: the plan stays until endsAt unless it is paid' },
    ),
  ),
  planEndsAt: Type.Optional(
    Type.String({ format: 'date-time', description: 'canceled at period end: the plan ends then' }),
  ),
  policyVersion: Type.String(),
  features: Type.Record(Type.String(), FeatureEntry, { description: 'by feature key, in policy order' }),
});

const PreflightAnswer = Type.Object({
  feature: Type.String(),
  featureName: Type.String(),
  allowed: Type.Boolean(),
  limit: Type.Number(),
  current: Type.Integer(),
  requested: Type.Integer(),
  remaining: Type.Number({ description: 'how many more fit under the limit now' }),
  countedBy: Type.Union([Type.Literal('server'), Type.Literal('client')]),
  requiredPlan: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'when not allowed: the lowest plan with a higher limit; null when no plan would help',
    }),
  ),
  message: Type.Optional(Type.String()),
});

export const entitlementRoutes: FastifyPluginAsyncTypebox<EntitlementRoutesOptions> = async (
  fastify,
  { policy: policyInForce, planOf, counters },
) => {
  fastify.get(
    '/api/entitlements/',
    {
      config: { auth: 'required' },
      schema: {
        tags: ['entitlements'],
        summary: "Every feature for the caller's tenant",
        response: { 200: EntitlementsBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const policy = policyInForce();
      const features: Static<typeof EntitlementsBody>['features'] = {};
      for (const entitlement of await request.entitlements.all()) {
        const feature = policy.features.get(entitlement.feature);
        if (!feature) continue;
        const granted = entitlement.granted;
        const cause = entitlement.cause ?? entitlement.errorCode ?? null;
        // Only a plan can be upgraded: an override or a release toggle gets no upgrade prompt.
        const advice = granted ? undefined : upgradeAdvice(feature, cause ?? undefined);
        features[feature.key] = {
          name: feature.name,
          type: feature.type,
          value: entitlement.value,
          enabled: granted,
          cause,
          ...(advice
            ? {
                requiredPlan: advice.requiredPlan,
                ...(advice.upgradeMessage !== undefined ? { message: advice.upgradeMessage } : {}),
              }
            : {}),
          ...(entitlement.meter ?? {}),
        };
      }
      const current = await planOf(principal.tenantId);
      const billed = current?.billing;
      return {
        tenant: principal.tenantId,
        plan: current?.plan ?? null,
        planVersion: current?.planVersion ?? null,
        ...(billed ? { billing: { cause: billed.cause, status: billed.status } } : {}),
        ...(billed?.trialEndsAt ? { trial: { endsAt: billed.trialEndsAt } } : {}),
        ...(billed?.graceEndsAt ? { gracePeriod: { endsAt: billed.graceEndsAt } } : {}),
        ...(billed?.endsAt ? { planEndsAt: billed.endsAt } : {}),
        policyVersion: policy.version,
        features,
      };
    },
  );

  fastify.post(
    '/api/entitlements/preflight',
    {
      config: { auth: 'required' },
      schema: {
        tags: ['entitlements'],
        summary: 'May this tenant add N more of a limited thing? Nothing is consumed.',
        body: PreflightBody,
        response: { 200: PreflightAnswer, 400: ErrorBody, 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { feature: key, add = 1 } = request.body;
      const policy = policyInForce();
      const feature = policy.features.get(key);
      if (!feature) throw new FeatureNotFoundError(key);
      if (feature.type !== 'number')
        throw new InvalidInputError(`feature: "${key}" is a ${feature.type} feature, not a numeric limit`);
      const counter = counters[key];
      let current = request.body.current;
      if (counter) current = await counter(principal.tenantId);
      else if (current === undefined)
        throw new InvalidInputError(
          `current: required for "${key}" (the server does not count it; send how many the tenant has now)`,
        );
      // An evaluation error counts as a limit of 0: the closed side.
      const limit = await request.entitlements.details(key);
      const max = typeof limit.value === 'number' ? limit.value : 0;
      const allowed = fitsLimit(max, current as number, add);
      // An override or a release toggle sets this tenant's limit: a higher plan would not change it.
      const planDecides =
        limit.errorCode === undefined && limit.source !== 'override' && limit.cause !== 'NOT_RELEASED';
      return {
        feature: key,
        featureName: feature.name,
        allowed,
        limit: max,
        current: current as number,
        requested: add,
        remaining: Math.max(0, allowedCount(max) - (current as number)),
        countedBy: counter ? ('server' as const) : ('client' as const),
        ...(allowed
          ? {}
          : planDecides
            ? { message: feature.upgradeMessage, requiredPlan: nextPlanAbove(policy, max, key) }
            : { requiredPlan: null }),
      };
    },
  );
};

/** The lowest plan whose limit is higher than the tenant's, if any. */
function nextPlanAbove(policy: PolicySnapshot, max: number, key: string): string | null {
  for (const plan of policy.plans.values()) {
    const value = plan.values.get(key)?.value;
    if (typeof value === 'number' && value > max) return plan.key;
  }
  return null;
}
