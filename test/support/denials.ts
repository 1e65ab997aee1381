// The refusals tests expect, written out once: the gate and every later re-check (the OAuth
// callback) must answer with the same body, word for word from the starter policy.

/** The 403 a tenant whose plan lacks Calendar Sync gets from the starter policy. */
export const CALENDAR_SYNC_NOT_IN_PLAN = {
  error: 'Feature not available',
  code: 'ENT_ERR_FEATURE_NOT_AVAILABLE',
  feature: 'can_use_calendar_sync',
  featureName: 'Calendar Sync',
  reason: 'NOT_IN_PLAN',
  requiredPlan: 'pro',
  message: 'Calendar Sync is available on the Pro plan and above. Upgrade to connect Google or Microsoft calendars.',
} as const;
