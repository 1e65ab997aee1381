// The webhook event types, on their own: the admin API, the domain and the console's browser
// bundle all import this list, and nothing else comes with it.

/** Every event type; the strings are part of the API. */
export const WEBHOOK_EVENT_TYPES = [
  'entitlements.changed',
  'meter.threshold',
  'meter.reset',
  'tenant.created',
  'tenant.deleted',
  'billing.subscription.changed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
