// The calendar clients this server is configured for. An unconfigured provider has none: its
// routes answer 503 naming the variables to set. A provider's client library (googleapis, the
// Graph client) is loaded only when that provider is configured.

import type { Config } from '../config.js';
import { ProviderNotConfiguredError } from '../errors.js';
import type { CalendarClient, CalendarProviderName } from './calendar-client.js';

export type CalendarClients = Readonly<Partial<Record<CalendarProviderName, CalendarClient>>>;

export async function createCalendarClients(config: Pick<Config, 'google' | 'microsoft'>): Promise<CalendarClients> {
  const { google, microsoft } = config;
  const [googleClient, microsoftClient] = await Promise.all([
    google &&
      import('./google-calendar-client.js').then(({ GoogleCalendarClient }) => new GoogleCalendarClient(google)),
    microsoft &&
      import('./microsoft-calendar-client.js').then(
        ({ MicrosoftCalendarClient }) => new MicrosoftCalendarClient(microsoft),
      ),
  ]);
  return {
    ...(googleClient ? { google: googleClient } : {}),
    ...(microsoftClient ? { microsoft: microsoftClient } : {}),
  };
}

const SETTINGS: Record<CalendarProviderName, [string, string]> = {
  google: ['Google', 'GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and GOOGLE_REDIRECT_URI'],
  microsoft: ['Microsoft', 'MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET and MICROSOFT_REDIRECT_URI'],
};

/** The client for a provider, or a 503 saying which variables to set. */
export function requireClient(clients: CalendarClients, provider: CalendarProviderName): CalendarClient {
  const client = clients[provider];
  if (!client) throw new ProviderNotConfiguredError(...SETTINGS[provider]);
  return client;
}
