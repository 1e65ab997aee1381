// The calendar's entitlements: the feature that gates calendar sync, the limit on connected
// calendars, and how that limit is counted and refused. OAuth and the calendar routes share them.

import { LimitReachedError, withDetails } from '../errors.js';
import type { RequestEntitlements } from '../gate/request-entitlements.js';
import type { FeatureDefinition } from '../policy/types.js';
import type { ConnectionRepository } from '../store/store.js';

export const CALENDAR_FEATURE = 'can_use_calendar_sync';
export const CALENDAR_LIMIT_FEATURE = 'max_connected_calendars';
/** The OAuth purpose of a calendar connection; other purposes (e.g. "login") are neither gated nor counted. */
export const CALENDAR_PURPOSE = 'calendar';

/** What counts against the limit: the tenant's valid calendar connections, of every user. */
export async function countCalendars(
  connections: Pick<ConnectionRepository, 'list'>,
  tenantId: string,
): Promise<number> {
  return (await connections.list(tenantId, { purpose: CALENDAR_PURPOSE, status: 'valid' })).length;
}

/** The caller's calendar limit and how much of it is used; no decision is a limit of 0 (the closed side). */
export async function calendarLimit(
  entitlements: RequestEntitlements,
  connections: Pick<ConnectionRepository, 'list'>,
  tenantId: string,
): Promise<{ max: number; used: number }> {
  const [max, used] = await Promise.all([
    entitlements.limit(CALENDAR_LIMIT_FEATURE),
    countCalendars(connections, tenantId),
  ]);
  return { max, used };
}

/** The 403 for a tenant at its limit, with the feature's name and upgrade message. */
export function calendarLimitReached(feature: FeatureDefinition | undefined, max: number, used: number): Error {
  return withDetails(new LimitReachedError(), {
    feature: CALENDAR_LIMIT_FEATURE,
    featureName: feature?.name ?? CALENDAR_LIMIT_FEATURE,
    limit: max,
    current: used,
    message: feature?.upgradeMessage ?? 'The limit of connected calendars is reached.',
  });
}
