// A plan's versions with how many tenants are on each, and migrations between versions: a dry
// run lists each tenant with what it would lose or gain; applying moves them, audited.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf, principalOf } from '../auth/principal.js';
import { PlanMigrations } from '../entitlements/plan-migrations.js';
import { storedVersionCounts } from '../entitlements/version-guard.js';
import { PlanNotFoundError } from '../errors.js';
import type { PolicyWatcher } from '../policy/watch.js';
import type { EntitleStore } from '../store/store.js';
import { ADMIN, ErrorBody, FeatureValueSchema, LIMITED_ERRORS } from './admin-schemas.js';

const PlanParams = Type.Object({ plan: Type.String({ minLength: 1, maxLength: 135 }) });

const PlanVersionsBody = Type.Object({
  plan: Type.String(),
  version: Type.Integer({ description: 'the current version: what new tenants get' }),
  versions: Type.Array(
    Type.Object({
      version: Type.Integer(),
      current: Type.Boolean(),
      extends: Type.Union([Type.String(), Type.Null()], { description: 'the plan version it starts from' }),
      tenants: Type.Integer({ description: 'tenants whose stored plan is on this version' }),
      values: Type.Record(Type.String(), Type.Object({ value: FeatureValueSchema, definedBy: Type.String() })),
    }),
  ),
});

const MigrationBody = Type.Object(
  {
    from: Type.Integer({ minimum: 1, description: 'the version tenants are on' }),
    to: Type.Integer({ minimum: 1, description: 'the version to move them to' }),
    dryRun: Type.Optional(Type.Boolean({ default: false, description: 'list what would change, move nobody' })),
  },
  { additionalProperties: false },
);

const FeatureChangeBody = Type.Object({
  feature: Type.String(),
  before: FeatureValueSchema,
  after: FeatureValueSchema,
});

const MigrationResultBody = Type.Object({
  plan: Type.String(),
  from: Type.Integer(),
  to: Type.Integer(),
  dryRun: Type.Boolean(),
  tenants: Type.Array(
    Type.Object({ tenant: Type.String(), loses: Type.Array(FeatureChangeBody), gains: Type.Array(FeatureChangeBody) }),
    { description: 'every tenant that was on plan@from, with what moving changes for it' },
  ),
  moved: Type.Integer({ description: 'tenants this run moved (0 in a dry run)' }),
});

/** What the plan routes use. */
export interface PlanRoutesOptions {
  readonly store: Pick<EntitleStore, 'tenants' | 'changes'>;
  readonly policy: Pick<PolicyWatcher, 'snapshot'>;
  readonly clock: () => number;
}

export const planRoutes: FastifyPluginAsyncTypebox<PlanRoutesOptions> = async (fastify, deps) => {
  const migrations = new PlanMigrations({ store: deps.store, policy: () => deps.policy.snapshot, clock: deps.clock });
  const tags = ['plans'];

  fastify.get(
    '/plans/:plan/versions',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: "A plan's versions, with how many tenants are on each",
        params: PlanParams,
        response: { ...LIMITED_ERRORS, 200: PlanVersionsBody, 400: ErrorBody },
      },
    },
    async (request) => {
      const plan = deps.policy.snapshot.plans.get(request.params.plan);
      if (!plan) throw new PlanNotFoundError(request.params.plan);
      const counts = (await storedVersionCounts(deps.store.tenants)).get(plan.key) ?? new Map<number, number>();
      // Versions tenants are on that the policy no longer has are listed too: they decide as the current one.
      const numbers = [...new Set([...plan.versions.keys(), ...counts.keys()])].sort((a, b) => a - b);
      return {
        plan: plan.key,
        version: plan.version,
        versions: numbers.map((version) => {
          const definition = plan.versions.get(version);
          return {
            version,
            current: version === plan.version,
            extends: definition?.extends ?? null,
            tenants: counts.get(version) ?? 0,
            values: Object.fromEntries(
              [...(definition?.values ?? [])].map(([key, { value, definedBy }]) => [key, { value, definedBy }]),
            ),
          };
        }),
      };
    },
  );

  fastify.post(
    '/plans/:plan/migrations',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Move the tenants on one version of a plan to another (dryRun: only list what would change)',
        description:
          'Each tenant moves in one audited write (tenant.plan.migrate) and its OFREP streams refetch. Safe to re-run: tenants already moved are not on `from` any more.',
        params: PlanParams,
        body: MigrationBody,
        response: { ...LIMITED_ERRORS, 200: MigrationResultBody, 400: ErrorBody },
      },
    },
    async (request) => {
      const { from, to, dryRun = false } = request.body;
      const result = await migrations.migrate(
        { plan: request.params.plan, from, to, dryRun },
        { actor: actorOf(principalOf(request)), requestId: request.id },
      );
      return { ...result, tenants: result.tenants.map((t) => ({ ...t, loses: [...t.loses], gains: [...t.gains] })) };
    },
  );
};
