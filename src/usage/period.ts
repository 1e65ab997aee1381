// Period math for meters, pure: which period a moment falls in. Boundaries are UTC calendar
// boundaries (weeks start on Monday, as ISO 8601 weeks do); `none` is one period for all time.
// Nothing here reads a clock: the caller passes `now`, so tests move time by passing another.

import type { MeterPeriod } from '../policy/types.js';

/** One period of a meter: usage counts from `start` (inclusive) until `end` (exclusive). */
export interface UsagePeriod {
  /** ISO 8601, UTC: the key usage rows are stored under. */
  readonly start: string;
  /** ISO 8601, UTC; null for a lifetime allowance (`period: none`). */
  readonly end: string | null;
}

/** The start of the single period of a lifetime allowance. */
export const LIFETIME_START = '1970-01-01T00:00:00.000Z';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The period of `period` that contains `now` (milliseconds since the epoch). */
export function periodAt(period: MeterPeriod, now: number): UsagePeriod {
  if (period === 'none') return { start: LIFETIME_START, end: null };
  const start = periodStart(period, now);
  return { start: new Date(start).toISOString(), end: new Date(nextStart(period, start)).toISOString() };
}

function periodStart(period: Exclude<MeterPeriod, 'none'>, now: number): number {
  switch (period) {
    case 'hour':
      return Math.floor(now / HOUR_MS) * HOUR_MS;
    case 'day':
      return Math.floor(now / DAY_MS) * DAY_MS;
    case 'week': {
      const day = Math.floor(now / DAY_MS) * DAY_MS;
      // getUTCDay: Sunday 0 … Saturday 6; back to Monday.
      const sinceMonday = (new Date(day).getUTCDay() + 6) % 7;
      return day - sinceMonday * DAY_MS;
    }
    case 'month': {
      const date = new Date(now);
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
    }
  }
}

function nextStart(period: Exclude<MeterPeriod, 'none'>, start: number): number {
  switch (period) {
    case 'hour':
      return start + HOUR_MS;
    case 'day':
      return start + DAY_MS;
    case 'week':
      return start + 7 * DAY_MS;
    case 'month': {
      const date = new Date(start);
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
    }
  }
}

/**
 * The period of `period` that contains `now`, counted from a billing cycle anchor instead of
 * calendar boundaries (`reset: billing`). Months keep the anchor's day and time, on the last day
 * of shorter months (an anchor on the 31st resets on 28 or 29 February), as billing systems do.
 */
export function anchoredPeriodAt(period: MeterPeriod, anchor: number, now: number): UsagePeriod {
  if (period === 'none') return { start: LIFETIME_START, end: null };
  if (period !== 'month') {
    const length = period === 'hour' ? HOUR_MS : period === 'day' ? DAY_MS : 7 * DAY_MS;
    const start = anchor + Math.floor((now - anchor) / length) * length;
    return { start: new Date(start).toISOString(), end: new Date(start + length).toISOString() };
  }
  const from = new Date(anchor);
  const to = new Date(now);
  let months = (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + (to.getUTCMonth() - from.getUTCMonth());
  if (addMonths(anchor, months) > now) months -= 1;
  return {
    start: new Date(addMonths(anchor, months)).toISOString(),
    end: new Date(addMonths(anchor, months + 1)).toISOString(),
  };
}

/** The anchor moved by whole months, its day clamped to the target month's length. */
function addMonths(anchor: number, months: number): number {
  const date = new Date(anchor);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(
    year,
    month,
    Math.min(date.getUTCDate(), lastDay),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    date.getUTCMilliseconds(),
  );
}
