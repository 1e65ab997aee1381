// The one rule every numeric limit is enforced by (preflight, OAuth initiation, the connection
// write): `used + add <= limit`, with the limit taken as a whole number of things. Limits declare
// `integer: true` in the policy; a fractional value from an older policy still means the same
// everywhere (1.5 calendars allow one).

/** The number of things a limit value allows: whole, never negative; NaN allows nothing. */
export function allowedCount(limit: number): number {
  return Number.isNaN(limit) ? 0 : Math.max(0, Math.floor(limit));
}

/** Whether `add` more fit when `used` are in use. */
export function fitsLimit(limit: number, used: number, add = 1): boolean {
  return used + add <= allowedCount(limit);
}
