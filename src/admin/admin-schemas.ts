// JSON Schemas of the admin API: validation of every request, serialization of every response,
// the OpenAPI document at /docs, and (through the TypeBox type provider) the handlers' types.

import { Type, type Static } from 'typebox';

export const TenantId = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', description: 'lower-case letters, digits, ".", "_" or "-"', examples: ['acme'] });
export const FeatureKey = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', examples: ['can_use_calendar_sync'] });
export const FeatureValueSchema = Type.Union([Type.Boolean(), Type.Number(), Type.String({ maxLength: 1024 })]);
const Timestamp = Type.String({ description: 'ISO 8601' });

export const ErrorBody = Type.Object(
  { error: Type.String(), code: Type.String() },
  { additionalProperties: true, description: 'Every error: a message for people and a code for programs, plus details.' },
);

export const TenantBody = Type.Object({ id: Type.String(), name: Type.String(), plan: Type.String(), createdAt: Timestamp, updatedAt: Timestamp });

export const TenantParams = Type.Object({ tenant: TenantId });
export const OverrideParams = Type.Object({ tenant: TenantId, feature: FeatureKey });

export const CreateTenantBody = Type.Object(
  { id: TenantId, name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), plan: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
export const UpdateTenantBody = Type.Object({ plan: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

export const PageQuery = Type.Object(
  { after: Type.Optional(Type.String({ maxLength: 256 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })) },
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

export const DeleteOverrideQuery = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false });

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
  definedBy: Type.Union([Type.String(), Type.Null()]),
  policyVersion: Type.String(),
  override: Type.Union([
    Type.Object({ value: FeatureValueSchema, reason: Type.String(), actor: Type.String(), expiresAt: Type.Union([Type.String(), Type.Null()]), version: Type.Integer() }),
    Type.Null(),
  ]),
  requiredPlan: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  upgradeMessage: Type.Optional(Type.String()),
});

export const AuditQuery = Type.Object(
  {
    tenant: Type.Optional(TenantId),
    action: Type.Optional(Type.String({ maxLength: 64 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    after: Type.Optional(Type.String({ maxLength: 64 })),
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

export const PolicyIssueBody = Type.Object({ file: Type.String(), line: Type.Integer(), column: Type.Integer(), message: Type.String(), text: Type.String() });

/** Route config of every admin route: an admin token, nothing less. */
export const ADMIN = { auth: 'admin' } as const;
