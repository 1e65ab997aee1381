// JSON Schemas of metered usage answers: one reading shape everywhere, documented once.

import { Type, type TSchema } from 'typebox';

const LimitValue = Type.Union([Type.Integer({ minimum: 0 }), Type.Literal('unlimited')]);

/** A meter's state (see usage/meter-state.ts). */
export const MeterReadingSchema = Type.Object({
  feature: Type.String(),
  featureName: Type.String(),
  unit: Type.String(),
  limit: Type.Union([Type.Integer({ minimum: 0 }), Type.Literal('unlimited')], {
    description: "the period's allowance",
  }),
  used: Type.Integer({ description: 'units consumed in the period, from the allowance and from top-ups' }),
  remaining: Type.Union([Type.Integer({ minimum: 0 }), Type.Literal('unlimited')], {
    description: 'units that can still be consumed: the allowance left plus top-ups, less open reservations',
  }),
  reserved: Type.Integer({ description: 'units held by open reservations' }),
  grantsRemaining: Type.Integer({ description: 'units left in unexpired top-ups' }),
  periodStart: Type.String(),
  resetsAt: Type.Union([Type.String(), Type.Null()], {
    description: 'when the allowance starts afresh (UTC); null for a lifetime allowance',
  }),
});

/** A meter reading with more fields (one flat object: the OpenAPI document and the serializer want no allOf). */
export const withReading = <P extends Record<string, TSchema>>(properties: P) =>
  Type.Object({ ...properties, ...MeterReadingSchema.properties });

export const GrantedBody = withReading({
  granted: Type.Literal(true),
  from: Type.Object(
    { allowance: Type.Integer(), grants: Type.Integer() },
    { description: 'where the units came from' },
  ),
});

export const LimitReachedBody = Type.Object(
  {
    error: Type.String(),
    code: Type.String(),
    feature: Type.Optional(Type.String()),
    featureName: Type.Optional(Type.String()),
    limit: Type.Optional(LimitValue),
    used: Type.Optional(Type.Integer()),
    remaining: Type.Optional(LimitValue),
    resetsAt: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    requiredPlan: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description:
          'the lowest plan with a higher allowance; null when an override sets the limit or no plan gives more',
      }),
    ),
    message: Type.Optional(Type.String()),
  },
  {
    additionalProperties: true,
    description: 'Limit reached (the meter is used up for this period), or a credential without the role',
  },
);

export const ReservationBody = withReading({
  reservationId: Type.String(),
  amount: Type.Integer(),
  expiresAt: Type.String(),
});

export const GrantSchema = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  feature: Type.String(),
  amount: Type.Integer(),
  remaining: Type.Integer(),
  reason: Type.String(),
  actor: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});

export const ReservationSchema = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  feature: Type.String(),
  periodStart: Type.String(),
  amount: Type.Integer(),
  holder: Type.Union([Type.String(), Type.Null()], {
    description: 'who made it; null for reservations made before it was kept',
  }),
  expiresAt: Type.String(),
  createdAt: Type.String(),
});
