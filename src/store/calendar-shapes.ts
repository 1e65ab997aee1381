// The calendar values the store persists: a provider's name (a connection's column) and the busy
// blocks an event sync writes. They live here, below calendar/, so that the store names no domain
// above it; calendar/calendar-client.ts re-exports them as part of the provider contract.

/** The providers Entitle can connect to. */
export type CalendarProviderName = 'google' | 'microsoft';

/** An event reduced to what scheduling needs: when the person is busy. */
export interface BusyBlock {
  /** The provider's event id (Google: event id; Microsoft: event id). */
  readonly eventId: string;
  /** ISO 8601 in UTC (all-day events: midnight UTC of the start and end dates). */
  readonly start: string;
  readonly end: string;
  readonly allDay: boolean;
  /** Google: transparency/status; Microsoft: showAs. */
  readonly showAs: 'busy' | 'tentative' | 'free';
}

export type EventChange =
  { readonly type: 'upsert'; readonly block: BusyBlock } | { readonly type: 'delete'; readonly eventId: string };
