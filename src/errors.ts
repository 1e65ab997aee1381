// Every error Entitle raises on purpose, in one table: code, message, HTTP status.
// Hooks and stores throw these; one error handler renders them. Messages never carry
// internals (SQL, stacks, secrets).

import createError, { type FastifyError } from '@fastify/error';

/** An Entitle error, optionally with fields to add to the response body. */
export interface EntitleError extends FastifyError {
  details?: Readonly<Record<string, unknown>>;
}

// Authentication and authorisation
export const AuthRequiredError = createError('ENT_ERR_AUTH_REQUIRED', 'Authentication required', 401);
// Same words as no token at all (the spec's 401 body); the code and WWW-Authenticate error="invalid_token" tell them apart.
export const InvalidTokenError = createError('ENT_ERR_INVALID_TOKEN', 'Authentication required', 401);
export const RateLimitedError = createError<[string]>('ENT_ERR_RATE_LIMITED', 'Too many requests; retry in %s', 429);
export const AdminRequiredError = createError('ENT_ERR_ADMIN_REQUIRED', 'This route needs an admin token', 403);
export const RoleNotAllowedError = createError<[string, string]>(
  'ENT_ERR_ROLE_NOT_ALLOWED',
  'A %s token may not use this route (it needs %s)',
  403,
);
export const FeatureNotAvailableError = createError('ENT_ERR_FEATURE_NOT_AVAILABLE', 'Feature not available', 403);
export const EntitlementUnavailableError = createError(
  'ENT_ERR_ENTITLEMENT_UNAVAILABLE',
  'Entitlements cannot be checked right now; access is denied until they can',
  503,
);

// Tenants, plans, features, overrides
export const TenantNotFoundError = createError<[string]>('ENT_ERR_TENANT_NOT_FOUND', 'Tenant "%s" not found', 404);
export const TenantExistsError = createError<[string]>('ENT_ERR_TENANT_EXISTS', 'Tenant "%s" already exists', 409);
export const PlanNotFoundError = createError<[string]>(
  'ENT_ERR_PLAN_NOT_FOUND',
  'plan: "%s" is not a plan of the policy',
  400,
);
export const FeatureNotFoundError = createError<[string]>(
  'ENT_ERR_FEATURE_NOT_FOUND',
  'Feature "%s" is not in the policy',
  404,
);
export const OverrideNotFoundError = createError<[string, string]>(
  'ENT_ERR_OVERRIDE_NOT_FOUND',
  'Tenant "%s" has no override for feature "%s"',
  404,
);
export const AddonNotFoundError = createError<[string]>(
  'ENT_ERR_ADDON_NOT_FOUND',
  'addon: "%s" is not an add-on of the policy',
  404,
);
export const AddonNotHeldError = createError<[string, string]>(
  'ENT_ERR_ADDON_NOT_HELD',
  'Tenant "%s" does not hold add-on "%s"',
  404,
);
export const AddonNotAvailableError = createError<[string, string]>(
  'ENT_ERR_ADDON_NOT_AVAILABLE',
  'addon: "%s" is not available on plan "%s"',
  409,
);
export const InvalidInputError = createError<[string]>('ENT_ERR_INVALID_INPUT', '%s', 400);
export const VersionConflictError = createError<[string]>(
  'ENT_ERR_VERSION_CONFLICT',
  '%s changed since it was read; read it again and retry with its new ETag',
  412,
);

export const TokenNotFoundError = createError<[string]>('ENT_ERR_TOKEN_NOT_FOUND', 'Token "%s" not found', 404);
export const StreamLimitError = createError<[string]>(
  'ENT_ERR_STREAM_LIMIT',
  'Too many open event streams (%s); retry later',
  503,
);
export const CsrfError = createError(
  'ENT_ERR_CSRF',
  'This write needs the x-csrf-token header of your console session',
  403,
);
export const LimitReachedError = createError('ENT_ERR_LIMIT_REACHED', 'Limit reached', 403);

// Metered usage
export const NotAMeterError = createError<[string]>('ENT_ERR_NOT_A_METER', 'feature: "%s" is not a meter', 400);
export const IdempotencyConflictError = createError<[string]>(
  'ENT_ERR_IDEMPOTENCY_CONFLICT',
  'idempotencyKey: "%s" was already used with another request in the last 24 hours',
  409,
);
export const ReservationNotFoundError = createError<[string]>(
  'ENT_ERR_RESERVATION_NOT_FOUND',
  'Reservation "%s" not found',
  404,
);
export const ReservationExpiredError = createError<[string]>(
  'ENT_ERR_RESERVATION_EXPIRED',
  'Reservation "%s" has expired: its units went back',
  409,
);
export const ConsumeNotFoundError = createError<[string, string]>(
  'ENT_ERR_CONSUME_NOT_FOUND',
  'idempotencyKey: no consume of "%s" with the key "%s" in the last 24 hours',
  404,
);
export const RefundConflictError = createError<[string]>('ENT_ERR_REFUND_CONFLICT', '%s', 409);

// Billing
export const BillingLinkConflictError = createError<[string, string]>(
  'ENT_ERR_BILLING_LINK_CONFLICT',
  'Billing customer "%s" is already linked to tenant "%s"',
  409,
);
export const BillingSignatureInvalidError = createError<[string]>(
  'ENT_ERR_BILLING_SIGNATURE',
  'Webhook signature rejected: %s',
  400,
);
export const BillingPayloadInvalidError = createError<[string]>(
  'ENT_ERR_BILLING_PAYLOAD',
  'Webhook payload rejected: %s',
  400,
);
export const BillingNotConfiguredError = createError<[string]>(
  'ENT_ERR_BILLING_NOT_CONFIGURED',
  'Billing is not configured on this server: set %s',
  503,
);

// Calendar connections and OAuth
export const ConnectionNotFoundError = createError('ENT_ERR_CONNECTION_NOT_FOUND', 'Connection not found', 404);
export const ProviderNotConfiguredError = createError<[string, string]>(
  'ENT_ERR_PROVIDER_NOT_CONFIGURED',
  '%s is not configured on this server: set %s',
  503,
);
export const ProviderFailedError = createError<[string]>('ENT_ERR_PROVIDER_FAILED', '%s', 502);
export const ProviderRateLimitedError = createError<[string]>('ENT_ERR_PROVIDER_RATE_LIMITED', '%s', 503);
export const ReconnectRequiredError = createError<[string]>(
  'ENT_ERR_RECONNECT_REQUIRED',
  'The %s connection is no longer authorized; connect the calendar again',
  409,
);
export const OAuthStateError = createError<[string]>('ENT_ERR_OAUTH_STATE', '%s', 400);

// Policy reads in worker threads
export const PolicyBusyError = createError(
  'ENT_ERR_POLICY_BUSY',
  'Too many policy validations are running; retry shortly',
  503,
);
export const PolicyTooLargeError = createError<[string]>(
  'ENT_ERR_POLICY_TOO_LARGE',
  'The policy is too large to validate: it %s',
  422,
);

// Outbound webhooks
export const WebhookNotFoundError = createError<[string]>(
  'ENT_ERR_WEBHOOK_NOT_FOUND',
  'Webhook endpoint "%s" not found',
  404,
);
export const WebhookDeliveryNotFoundError = createError<[string]>(
  'ENT_ERR_WEBHOOK_DELIVERY_NOT_FOUND',
  'Webhook delivery "%s" not found',
  404,
);
export const WebhookLimitError = createError<[number]>(
  'ENT_ERR_WEBHOOK_LIMIT',
  'You have registered %d webhook endpoints, the most one principal may; remove one first',
  403,
);

// Stores and outside services
export const StoreUnavailableError = createError(
  'ENT_ERR_STORE_UNAVAILABLE',
  'The store is unavailable; try again shortly',
  503,
);

/** Whether an error is one of ours (or fastify's) with a status meant for the client. */
export function isClientFacing(error: unknown): error is EntitleError {
  return (
    error instanceof Error &&
    typeof (error as FastifyError).code === 'string' &&
    typeof (error as FastifyError).statusCode === 'number'
  );
}

/** Adds response fields to an error (the gate's feature, plan and upgrade message). */
export function withDetails<E extends FastifyError>(error: E, details: Record<string, unknown>): E & EntitleError {
  return Object.assign(error, { details: Object.freeze(details) });
}
