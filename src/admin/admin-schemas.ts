// JSON Schemas of the admin API: validation of every request, serialization of every response,
// the OpenAPI document at /docs, and (through the TypeBox type provider) the handlers' types.

import { Type, type Static } from 'typebox';
import { FeatureValueSchema } from '../http/schemas.js';

export { AUTH_ERRORS, ErrorBody, FeatureValueSchema, LIMITED_ERRORS, pageOf } from '../http/schemas.js';

export const TenantId = Type.String({
  pattern: '^[a-z0-9][a-z0-9._-]{0,63}$',
  description: 'lower-case letters, digits, ".", "_" or "-"',
  examples: ['acme'],
});
export const FeatureKey = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', examples: ['can_use_calendar_sync'] });
const Timestamp = Type.String({ description: 'ISO 8601' });

export const TenantBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  plan: Type.String(),
  planVersion: Type.Integer({ minimum: 1, description: 'the version of the plan the tenant is on' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

/** One tenant with summaries of what it holds. More sections may appear (the console shows any it does not know generically). */
export const TenantDetailBody = Type.Object(
  {
    ...TenantBody.properties,
    connections: Type.Object(
      { valid: Type.Integer(), invalid: Type.Integer({ description: 'need the user to connect again' }) },
      { description: 'calendar connections' },
    ),
  },
  { additionalProperties: true },
);

export const TenantParams = Type.Object({ tenant: TenantId });
export const OverrideParams = Type.Object({ tenant: TenantId, feature: FeatureKey });

export const CreateTenantBody = Type.Object(
  {
    id: TenantId,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    plan: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);
export const UpdateTenantBody = Type.Object(
  { plan: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const TenantListQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ maxLength: 256 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    q: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'part of the id or the name, any case' }),
    ),
    plan: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const OverrideBody = Type.Object({
  tenantId: Type.String(),
  feature: Type.String(),
  value: FeatureValueSchema,
  reason: Type.String(),
  actor: Type.String(),
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  version: Type.Integer(),
  /** False once expiresAt has passed: the override no longer decides anything. */
  active: Type.Boolean(),
});

export const PutOverrideBody = Type.Object(
  {
    value: FeatureValueSchema,
    reason: Type.String({ minLength: 1, maxLength: 500, description: 'why this tenant differs from its plan' }),
    expiresAt: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
  },
  { additionalProperties: false },
);
export type PutOverrideInput = Static<typeof PutOverrideBody>;

export const DeleteOverrideQuery = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 500 })) },
  { additionalProperties: false },
);

export const Explanation = Type.Object({
  feature: Type.String(),
  featureName: Type.String(),
  type: Type.String(),
  value: FeatureValueSchema,
  granted: Type.Boolean(),
  variant: Type.String(),
  reason: Type.String(),
  source: Type.String(),
  cause: Type.String(),
  plan: Type.Union([Type.String(), Type.Null()]),
  planVersion: Type.Union([Type.Integer(), Type.Null()], { description: 'the version of the plan decided with' }),
  definedBy: Type.Union([Type.String(), Type.Null()]),
  addons: Type.Optional(Type.Array(Type.String(), { description: 'add-ons that raised or granted the value' })),
  policyVersion: Type.String(),
  override: Type.Union([
    Type.Object({
      value: FeatureValueSchema,
      reason: Type.String(),
      actor: Type.String(),
      expiresAt: Type.Union([Type.String(), Type.Null()]),
      version: Type.Integer(),
    }),
    Type.Null(),
  ]),
  billing: Type.Optional(
    Type.Object(
      { cause: Type.String(), status: Type.String() },
      { description: 'billing decides the plan: why, and the deciding subscription status' },
    ),
  ),
  trial: Type.Optional(Type.Object({ endsAt: Type.String({ format: 'date-time' }) })),
  gracePeriod: Type.Optional(
    Type.Object(
      { endsAt: Type.String({ format: 'date-time' }) },
      { description: 'a payment failed: the plan stays until endsAt unless it is paid' },
    ),
  ),
  release: Type.Optional(
    Type.Object(
      { toggle: Type.String(), entitledValue: FeatureValueSchema },
      { description: 'the release toggle (rollout.unleash) holding an entitled tenant back' },
    ),
  ),
  requiredPlan: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description:
        'when not granted: the lowest plan that grants it; null when no upgrade would help (an override or a release toggle decides)',
    }),
  ),
  upgradeMessage: Type.Optional(Type.String()),
});

export const AuditQuery = Type.Object(
  {
    tenant: Type.Optional(TenantId),
    action: Type.Optional(
      Type.String({
        maxLength: 64,
        pattern: '^[A-Za-z0-9_.-]+\\*?$',
        description: 'an action such as override.set, or a prefix ending in * such as override.*',
        examples: ['override.*'],
      }),
    ),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    after: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  },
  { additionalProperties: false },
);

export const AuditRecordBody = Type.Object({
  seq: Type.Integer(),
  at: Timestamp,
  actor: Type.String(),
  tenantId: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.String(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  prevHash: Type.String(),
  hash: Type.String(),
});

export const PolicyIssueBody = Type.Object({
  file: Type.String(),
  line: Type.Integer(),
  column: Type.Integer(),
  message: Type.String(),
  text: Type.String(),
});

// Feature and plan definitions belong to the policy format: fields it adds are passed through.
export const FeatureDefinitionBody = Type.Object(
  {
    key: Type.String(),
    name: Type.String(),
    description: Type.String(),
    type: Type.String(),
    default: FeatureValueSchema,
    upgradeMessage: Type.String(),
    values: Type.Optional(Type.Array(Type.String())),
    rollout: Type.Optional(Type.Object({ unleash: Type.String() }, { additionalProperties: true })),
    requiredPlan: Type.Optional(Type.String()),
    integer: Type.Optional(Type.Boolean({ description: 'number features: whole numbers only' })),
    minimum: Type.Optional(Type.Number()),
    maximum: Type.Optional(Type.Number()),
  },
  { additionalProperties: true },
);

export const PlanDefinitionBody = Type.Object(
  {
    key: Type.String(),
    name: Type.String(),
    description: Type.String(),
    extends: Type.Optional(Type.String()),
    version: Type.Integer({ description: 'the current version: what new tenants get' }),
    versions: Type.Array(Type.Integer(), { description: 'every version the policy keeps, the current one included' }),
    chain: Type.Array(Type.String()),
    values: Type.Record(Type.String(), Type.Object({ value: FeatureValueSchema, definedBy: Type.String() })),
  },
  { additionalProperties: true },
);

/** An add-on of the policy: what one unit gives, and the plans that may hold it. */
export const AddonDefinitionBody = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Type.String(),
  availableOn: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'null: every plan' }),
  values: Type.Record(Type.String(), FeatureValueSchema, { description: 'per unit of quantity' }),
});

const ImpactCounts = Type.Object({
  revoked: Type.Integer(),
  lowered: Type.Integer(),
  granted: Type.Integer(),
  changed: Type.Integer(),
});

export const PolicyImpactBody = Type.Object(
  {
    fromVersion: Type.String(),
    toVersion: Type.String(),
    tenants: Type.Integer(),
    addedFeatures: Type.Array(Type.String()),
    removedFeatures: Type.Array(Type.String()),
    features: Type.Array(
      Type.Object({
        feature: Type.String(),
        revoked: Type.Integer({ description: 'tenants that lose the feature' }),
        lowered: Type.Integer({ description: 'tenants whose numeric limit goes down (counts as a revocation)' }),
        granted: Type.Integer(),
        changed: Type.Integer({ description: 'other value changes: a higher limit, another string value' }),
        byPlan: Type.Record(Type.String(), ImpactCounts),
        examples: Type.Array(
          Type.Object({
            tenant: Type.String(),
            plan: Type.String(),
            before: Type.Union([FeatureValueSchema, Type.Null()]),
            after: Type.Union([FeatureValueSchema, Type.Null()]),
          }),
        ),
        summary: Type.Array(Type.String(), { examples: [['revokes can_use_webhooks from 37 tenants on plan pro']] }),
      }),
    ),
    revokes: Type.Boolean({ description: 'true when any tenant loses a feature or gets a lower limit' }),
  },
  { description: "which tenants' decisions the proposed policy would change, feature by feature" },
);

/** Route config of every admin route: an admin token, nothing less. */
export const ADMIN = { auth: 'admin' } as const;

/** The policy in force, for operators. */
export const PolicyBody = Type.Object({
  directory: Type.String(),
  files: Type.Array(Type.String(), { description: 'the files the policy in force was read from, in load order' }),
  version: Type.String(),
  loadedAt: Type.String({ description: 'ISO 8601' }),
  lastError: Type.Union([Type.Object({ at: Type.String(), issues: Type.Array(PolicyIssueBody) }), Type.Null()], {
    description: 'the last failed reload, if it came after the last good one',
  }),
  features: Type.Array(FeatureDefinitionBody),
  plans: Type.Array(PlanDefinitionBody),
  addons: Type.Array(AddonDefinitionBody),
});
