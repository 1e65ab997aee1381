// JSON Schemas of the calendar and OAuth answers: serialization of every response, the OpenAPI
// document at /docs and the handlers' types. A response schema drops what it does not name, so
// every field the handlers send is here; error bodies keep whatever details they carry.

import { Type, type Static } from 'typebox';
import { AUTH_ERRORS } from '../http/schemas.js';
import type { Connection } from '../store/store.js';

const Timestamp = Type.String({ description: 'ISO 8601' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
const Provider = Type.Enum(['google', 'microsoft']);

export const SyncCountsBody = Type.Object(
  {
    calendars: Type.Integer({ description: 'how many calendars were synced' }),
    added: Type.Integer(),
    updated: Type.Integer(),
    deleted: Type.Integer(),
    fullResync: Type.Boolean({
      description: 'true when the provider dropped the sync state and a calendar was read again in full',
    }),
  },
  { description: 'the counts of a sync, over all its calendars' },
);

const connectionFields = {
  id: Type.String(),
  provider: Provider,
  purpose: Type.String({ examples: ['calendar'] }),
  accountEmail: Type.Union([Type.String(), Type.Null()], {
    description: 'the connected account, when the provider said',
  }),
  status: Type.Enum(['valid', 'invalid'], {
    description: 'invalid: disconnected, or the grant was revoked at the provider',
  }),
  invalidReason: Type.Optional(Type.String()),
  createdAt: Timestamp,
  lastSyncAt: NullableTimestamp,
  lastSync: Type.Union([SyncCountsBody, Type.Null()]),
};

/** What clients see of a connection: never its tokens. */
export const ConnectionBody = Type.Object(connectionFields, {
  description: "a user's link to a calendar account (its tokens stay on the server)",
});

export const ProviderCalendarBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  primary: Type.Boolean(),
  timeZone: Type.Union([Type.String(), Type.Null()]),
  canEdit: Type.Boolean(),
});

export const CalendarStatusBody = Type.Object({
  available: Type.Boolean({ description: 'whether the tenant may use calendar sync' }),
  feature: Type.String({ examples: ['can_use_calendar_sync'] }),
  featureName: Type.String(),
  message: Type.Optional(
    Type.Union([Type.String(), Type.Null()], { description: "when not available: the feature's upgrade message" }),
  ),
  requiredPlan: Type.Optional(
    Type.Union([Type.String(), Type.Null()], { description: 'when not available: the lowest plan that has it' }),
  ),
  limit: Type.Object(
    { feature: Type.String({ examples: ['max_connected_calendars'] }), max: Type.Number(), used: Type.Integer() },
    { description: "the tenant's limit of connected calendars and how many are connected" },
  ),
  providers: Type.Object(
    { google: Type.Boolean(), microsoft: Type.Boolean() },
    { description: 'which providers this server is configured for' },
  ),
  connections: Type.Array(ConnectionBody, { description: "the caller's own calendar connections, valid or not" }),
});

export const CalendarListBody = Type.Object({
  connections: Type.Array(Type.Object({ ...connectionFields, calendars: Type.Array(ProviderCalendarBody) }), {
    description: "the caller's valid connections, each with its calendars",
  }),
});

export const SyncAnswerBody = Type.Object({
  connection: ConnectionBody,
  calendars: Type.Array(
    Type.Object({
      calendarId: Type.String(),
      added: Type.Integer(),
      updated: Type.Integer(),
      deleted: Type.Integer(),
      fullResync: Type.Boolean(),
    }),
  ),
  lastSyncAt: NullableTimestamp,
  totals: Type.Union([SyncCountsBody, Type.Null()]),
});

export const DisconnectAnswerBody = Type.Object({
  connection: ConnectionBody,
  revokedAtProvider: Type.Boolean({
    description: 'false when the provider has no revocation endpoint or is no longer configured here',
  }),
});

export const InitiateAnswerBody = Type.Object({
  authorizationUrl: Type.String({
    description: "send the user here: the provider's consent page, with the state and a PKCE S256 challenge",
  }),
  state: Type.String({ description: 'single-use; comes back on the callback' }),
  expiresAt: Timestamp,
});

export const CallbackAnswerBody = Type.Object({
  connection: ConnectionBody,
  replaced: Type.Boolean({
    description: 'true when the same account was connected already: its tokens were replaced (200, not 201)',
  }),
});

// Error bodies: `{ error, code }` plus their details, which are passed through.
const error = { error: Type.String(), code: Type.String() };

export const FeatureNotAvailableBody = Type.Object(
  {
    ...error,
    code: Type.Literal('ENT_ERR_FEATURE_NOT_AVAILABLE'),
    feature: Type.String(),
    featureName: Type.String(),
    reason: Type.String({ examples: ['NOT_IN_PLAN', 'REVOKED_BY_OVERRIDE', 'NOT_RELEASED'] }),
    requiredPlan: Type.Union([Type.String(), Type.Null()], { description: 'the lowest plan that grants the feature' }),
    message: Type.String({ description: "the feature's upgrade message" }),
  },
  {
    additionalProperties: true,
    description: 'Feature not available: the tenant is not entitled to can_use_calendar_sync',
  },
);

export const LimitReachedBody = Type.Object(
  {
    ...error,
    code: Type.Literal('ENT_ERR_LIMIT_REACHED'),
    feature: Type.String({ examples: ['max_connected_calendars'] }),
    featureName: Type.String(),
    limit: Type.Number(),
    current: Type.Integer(),
    message: Type.String(),
  },
  {
    additionalProperties: true,
    description: 'Limit reached: the tenant has as many connected calendars as its plan allows',
  },
);

/** 403 of a gated route: the feature is not available, or the role may not use the route. */
export const GatedForbidden = Type.Union([FeatureNotAvailableBody, AUTH_ERRORS[403]], {
  description:
    "Feature not available (the tenant's plan or an override), or the credential's role may not use this route",
});

/** 403 of a route that adds a connection: as GatedForbidden, or the calendar limit is reached. */
export const ConnectForbidden = Type.Union([FeatureNotAvailableBody, LimitReachedBody, AUTH_ERRORS[403]], {
  description: 'Feature not available, the limit of connected calendars reached, or a role that may not use this route',
});

export const NotFoundBody = Type.Object(
  { ...error },
  {
    additionalProperties: true,
    description: "No such connection of the caller's (another tenant's or user's connection does not exist)",
  },
);

export const ReconnectBody = Type.Object(
  { ...error, provider: Type.Optional(Provider) },
  {
    additionalProperties: true,
    description: 'The provider no longer accepts the grant: the user must connect the calendar again',
  },
);

export const ProviderFailedBody = Type.Object(
  {
    ...error,
    provider: Type.Optional(Provider),
    providerStatus: Type.Optional(Type.Integer({ description: "the provider's HTTP status" })),
  },
  { additionalProperties: true, description: 'The calendar provider failed' },
);

export const UnavailableBody = Type.Object(
  {
    ...error,
    provider: Type.Optional(Provider),
    retryAfterSeconds: Type.Optional(Type.Integer({ description: 'also in Retry-After' })),
  },
  {
    additionalProperties: true,
    description:
      'Entitlements cannot be checked (access is denied until they can), the store is unavailable, the provider is not configured here, or it is rate-limiting (see Retry-After)',
  },
);

/** What clients see of a connection: never its tokens. */
export function publicConnection(connection: Connection): Static<typeof ConnectionBody> {
  return {
    id: connection.id,
    provider: connection.provider,
    purpose: connection.purpose,
    accountEmail: connection.accountEmail,
    status: connection.status,
    ...(connection.invalidReason ? { invalidReason: connection.invalidReason } : {}),
    createdAt: connection.createdAt,
    lastSyncAt: connection.lastSyncAt,
    lastSync: connection.lastSync,
  };
}
