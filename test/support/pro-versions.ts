// Pro as the starter policy sells it, and a version 2 of it that drops branding removal and gives
// more booking pages with version 1 kept as sold: the plan blocks the plan-version tests swap in.

/** The starter pro plan's features, indented as they stand in plans.yaml. */
export const PRO_FEATURES = `      can_use_calendar_sync: true
      max_connected_calendars: 2
      can_use_sms_reminders: true
      sms_reminders_per_month: 500
      can_remove_branding: true
      max_booking_pages: 10
      support_tier: email`;

export const PRO_V1 = `  pro:
    name: Pro
    extends: free
    billing:
      stripe:
        prices: [pro_monthly, pro_yearly]
    features:
${PRO_FEATURES}
`;

/** Version 2 drops branding removal and gives more booking pages; version 1 is kept as sold. */
export const PRO_V2 = `  pro:
    name: Pro
    extends: free
    version: 2
    billing:
      stripe:
        prices: [pro_monthly, pro_yearly]
    features:
${PRO_FEATURES.replace('      can_remove_branding: true\n', '').replace('max_booking_pages: 10', 'max_booking_pages: 20')}
    versions:
      1:
        features:
${PRO_FEATURES.replace(/^ {6}/gm, '          ')}
`;
