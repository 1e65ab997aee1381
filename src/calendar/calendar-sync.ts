// Incremental sync of a connection's calendars into busy blocks: sync tokens / delta links,
// a full resync when the provider drops the state, Retry-After honoured on 429.

import { ProviderRateLimitedError, withDetails } from '../errors.js';
import type { Connection, SyncCounts, WriteContext } from '../store/store.js';
import type { CalendarClient, SyncResult } from './calendar-client.js';
import { providerName, withAccessToken, type ConnectionTokenDeps } from './connection-tokens.js';
import { ProviderRateLimitError, SyncStateExpiredError } from './provider-errors.js';

export interface SyncOptions {
  /** Calendars to sync; default: the account's primary calendar. */
  readonly calendarIds?: readonly string[];
  /** Wait and retry when the provider's Retry-After is at most this long; otherwise answer 503 with it. */
  readonly maxRetryWaitMs: number;
  /** How often to retry after a 429. */
  readonly maxRetries: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface SyncOutcome {
  readonly connection: Connection;
  readonly calendars: readonly {
    readonly calendarId: string;
    readonly added: number;
    readonly updated: number;
    readonly deleted: number;
    readonly fullResync: boolean;
  }[];
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function syncConnection(
  deps: ConnectionTokenDeps,
  client: CalendarClient,
  connection: Connection,
  context: WriteContext,
  options: SyncOptions,
): Promise<SyncOutcome> {
  const use = <T>(call: (token: string) => Promise<T>): Promise<T> =>
    withRateLimit(connection, options, () => withAccessToken(deps, client, connection, context, call));
  const calendarIds =
    options.calendarIds && options.calendarIds.length > 0
      ? options.calendarIds
      : [(await use((token) => client.listCalendars(token))).find((calendar) => calendar.primary)?.id ?? 'primary'];

  const calendars: SyncOutcome['calendars'][number][] = [];
  for (const calendarId of calendarIds) {
    const state = await deps.store.connections.syncState(connection.tenantId, connection.id, calendarId);
    let result: SyncResult;
    let fullResync = false;
    try {
      result = await use((token) => client.syncEvents(token, calendarId, state));
    } catch (error) {
      if (!(error instanceof SyncStateExpiredError)) throw error;
      // The provider forgot our place (Google 410): start over with a full sync.
      fullResync = true;
      result = await use((token) => client.syncEvents(token, calendarId, null));
    }
    // Each calendar's events and its new sync state commit together: never one without the other.
    const counts = await deps.store.connections.applySync(connection.tenantId, connection.id, calendarId, result);
    calendars.push({ calendarId, ...counts, fullResync: fullResync || (state !== null && result.fullSync) });
  }
  const totals: SyncCounts = {
    calendars: calendars.length,
    added: sum(calendars, 'added'),
    updated: sum(calendars, 'updated'),
    deleted: sum(calendars, 'deleted'),
    fullResync: calendars.some((c) => c.fullResync),
  };
  const recorded = await deps.store.connections.recordSync(connection.tenantId, connection.id, totals, context);
  return { connection: recorded, calendars };
}

async function withRateLimit<T>(connection: Connection, options: SyncOptions, call: () => Promise<T>): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof ProviderRateLimitError)) throw error;
      const wait = error.retryAfterMs ?? options.maxRetryWaitMs;
      if (attempt >= options.maxRetries || wait > options.maxRetryWaitMs) {
        const retryAfterSeconds = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
        throw withDetails(
          new ProviderRateLimitedError(
            `${providerName(connection)} is rate-limiting requests; retry after ${retryAfterSeconds} s`,
          ),
          {
            provider: connection.provider,
            retryAfterSeconds,
          },
        );
      }
      await sleep(wait);
    }
  }
}

function sum<K extends 'added' | 'updated' | 'deleted'>(items: readonly Record<K, number>[], key: K): number {
  return items.reduce((total, item) => total + item[key], 0);
}
