// Calendar endpoints for apps. Status needs authentication only; list, sync and disconnect
// are gated on can_use_calendar_sync. A user sees only their own connections in their tenant:
// anything else is 404.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf, principalOf, type Principal } from '../auth/principal.js';
import { ConnectionNotFoundError, InvalidInputError } from '../errors.js';
import { AUTH_ERRORS, ErrorBody } from '../http/schemas.js';
import { secretContext } from '../secrets/secret-context.js';
import type { FeatureDefinition } from '../policy/types.js';
import type { TokenCipher } from '../secrets/token-crypto.js';
import type { AuditEvent, Connection, EntitleStore, WriteContext } from '../store/store.js';
import { CALENDAR_FEATURE, CALENDAR_LIMIT_FEATURE, CALENDAR_PURPOSE } from './calendar-features.js';
import type { CalendarProviderName } from './calendar-client.js';
import { requireClient, type CalendarClients } from './calendar-clients.js';
import {
  CalendarListBody,
  CalendarStatusBody,
  DisconnectAnswerBody,
  GatedForbidden,
  NotFoundBody,
  ProviderFailedBody,
  publicConnection,
  ReconnectBody,
  SyncAnswerBody,
  UnavailableBody,
} from './calendar-schemas.js';
import { syncConnection } from './calendar-sync.js';
import { withAccessToken } from './connection-tokens.js';
import { providerHttpError } from './provider-http-errors.js';

export interface CalendarRoutesOptions {
  readonly store: Pick<EntitleStore, 'connections' | 'audit'>;
  readonly cipher: TokenCipher;
  readonly clock: () => number;
  /** The policy's feature definitions in force (name and upgrade message of the calendar feature). */
  readonly feature: (key: string) => FeatureDefinition | undefined;
  readonly clients: CalendarClients;
  /** Longest Retry-After the server waits out itself before answering 503. */
  readonly maxRetryWaitMs?: number;
  /** Records a successful sensitive read (a calendar list); absent: such reads are not audited. */
  readonly auditRead?: ((event: AuditEvent) => Promise<void>) | undefined;
  /** Told of every failed provider call (metrics), with the error code the client gets. */
  readonly onProviderError?: (provider: CalendarProviderName, code: string) => void;
}

const ConnectionId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });

/** The errors of a gated route that calls the provider: the gate's, the provider's and the store's. */
const PROVIDER_ERRORS = {
  ...AUTH_ERRORS,
  403: GatedForbidden,
  409: ReconnectBody,
  502: ProviderFailedBody,
  503: UnavailableBody,
} as const;

export const calendarRoutes: FastifyPluginAsyncTypebox<CalendarRoutesOptions> = async (fastify, options) => {
  const { store, cipher, clients } = options;
  const tokenDeps = { store, cipher, clock: options.clock };
  const writeContext = (principal: Principal, requestId: string): WriteContext => ({
    actor: actorOf(principal),
    requestId,
  });

  /** The caller's own connection, or 404 (another tenant's or user's connection does not exist). */
  async function ownConnection(principal: Principal, id: string): Promise<Connection> {
    const connection = await store.connections.get(principal.tenantId, id);
    if (!connection || connection.userId !== principal.userId || connection.purpose !== CALENDAR_PURPOSE)
      throw new ConnectionNotFoundError();
    return connection;
  }

  async function audited<T>(
    principal: Principal,
    action: string,
    target: string,
    provider: CalendarProviderName,
    work: () => Promise<T>,
  ): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const mapped = providerHttpError(error, provider);
      if (mapped !== error)
        options.onProviderError?.(provider, String((mapped as { code?: unknown }).code ?? 'unknown'));
      await store.audit.append({
        actor: actorOf(principal),
        tenantId: principal.tenantId,
        action,
        target,
        outcome: 'failure',
        details: { error: mapped instanceof Error ? mapped.message : 'failed' },
      });
      throw mapped;
    }
  }

  const tags = ['calendar'];

  fastify.get(
    '/api/calendar/status/',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: "Whether the caller's tenant may sync calendars, its limit, and the caller's connections",
        description:
          'Not gated: a tenant without the feature gets available: false with the upgrade message, to show in its UI.',
        response: { 200: CalendarStatusBody, ...AUTH_ERRORS, 503: UnavailableBody },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      // Both decided, or 503: a status page must not show a guess.
      const [available, limit] = await Promise.all([
        request.entitlements.decided(CALENDAR_FEATURE),
        request.entitlements.decided(CALENDAR_LIMIT_FEATURE),
      ]);
      const feature = options.feature(CALENDAR_FEATURE);
      // One read of the tenant's calendar connections gives both the caller's and the count the limit counts.
      const tenantConnections = await store.connections.list(principal.tenantId, { purpose: CALENDAR_PURPOSE });
      const connections = tenantConnections.filter((connection) => connection.userId === principal.userId);
      const used = tenantConnections.filter((connection) => connection.status === 'valid').length;
      return {
        available: available.value === true,
        feature: CALENDAR_FEATURE,
        featureName: feature?.name ?? CALENDAR_FEATURE,
        ...(available.value === true
          ? {}
          : { message: feature?.upgradeMessage ?? null, requiredPlan: feature?.requiredPlan ?? null }),
        limit: { feature: CALENDAR_LIMIT_FEATURE, max: typeof limit.value === 'number' ? limit.value : 0, used },
        providers: { google: clients.google !== undefined, microsoft: clients.microsoft !== undefined },
        connections: connections.map(publicConnection),
      };
    },
  );

  fastify.get(
    '/api/calendar/list/',
    {
      config: { auth: 'required', feature: CALENDAR_FEATURE },
      schema: {
        tags,
        summary: "The caller's valid connections, each with its calendars as the provider lists them",
        response: { 200: CalendarListBody, ...PROVIDER_ERRORS },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const context = writeContext(principal, request.id);
      const connections = await store.connections.list(principal.tenantId, {
        userId: principal.userId,
        purpose: CALENDAR_PURPOSE,
        status: 'valid',
      });
      const listed = [];
      for (const connection of connections) {
        const client = requireClient(clients, connection.provider);
        const calendars = await audited(
          principal,
          'calendar.list',
          `connection:${connection.id}`,
          connection.provider,
          () => withAccessToken(tokenDeps, client, connection, context, (token) => client.listCalendars(token)),
        );
        listed.push({ ...publicConnection(connection), calendars });
      }
      await options.auditRead?.({
        actor: context.actor,
        tenantId: principal.tenantId,
        action: 'calendar.list',
        target: null,
        outcome: 'success',
        details: { connections: listed.length, requestId: request.id },
      });
      return { connections: listed };
    },
  );

  fastify.post(
    '/api/calendar/sync/',
    {
      config: { auth: 'required', feature: CALENDAR_FEATURE },
      schema: {
        tags,
        summary: "Sync a connection's calendars into busy blocks",
        description:
          'Incremental (sync tokens, delta links); a full resync when the provider drops the state. Without calendarIds: the primary calendar.',
        body: Type.Object(
          {
            connectionId: ConnectionId,
            calendarIds: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { maxItems: 50 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: SyncAnswerBody, 400: ErrorBody, 404: NotFoundBody, ...PROVIDER_ERRORS },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const connection = await ownConnection(principal, request.body.connectionId);
      if (connection.status !== 'valid') throw new ConnectionNotFoundError();
      const client = requireClient(clients, connection.provider);
      const outcome = await audited(
        principal,
        'calendar.sync',
        `connection:${connection.id}`,
        connection.provider,
        () =>
          syncConnection(tokenDeps, client, connection, writeContext(principal, request.id), {
            ...(request.body.calendarIds ? { calendarIds: request.body.calendarIds } : {}),
            maxRetryWaitMs: options.maxRetryWaitMs ?? 5_000,
            maxRetries: 2,
          }),
      );
      return {
        connection: publicConnection(outcome.connection),
        calendars: [...outcome.calendars],
        lastSyncAt: outcome.connection.lastSyncAt,
        totals: outcome.connection.lastSync,
      };
    },
  );

  fastify.delete(
    '/api/calendar/disconnect/',
    {
      config: { auth: 'required', feature: CALENDAR_FEATURE },
      schema: {
        tags,
        summary: 'Disconnect a calendar: revoke at the provider where it can, delete its tokens and busy blocks',
        description: 'connectionId in the body or the query string.',
        querystring: Type.Object({ connectionId: Type.Optional(ConnectionId) }, { additionalProperties: false }),
        body: Type.Object({ connectionId: Type.Optional(ConnectionId) }, { additionalProperties: false }),
        response: { 200: DisconnectAnswerBody, 400: ErrorBody, 404: NotFoundBody, ...PROVIDER_ERRORS },
      },
      // DELETE usually comes without a body: the id may be in the query string instead.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const id = request.body.connectionId ?? request.query.connectionId;
      if (id === undefined) throw new InvalidInputError('connectionId: required (in the body or the query string)');
      const connection = await ownConnection(principal, id);
      if (connection.status !== 'valid') throw new ConnectionNotFoundError();
      // A provider no longer configured here cannot be asked to revoke; the tokens are still deleted here.
      const client = clients[connection.provider];
      const context = writeContext(principal, request.id);
      // Revoke first: if the provider fails, nothing here changes and the user can try again.
      const revoked = await audited(
        principal,
        'connection.disconnect',
        `connection:${connection.id}`,
        connection.provider,
        async () => {
          const tokens = await store.connections.tokens(principal.tenantId, connection.id);
          if (!tokens || !client) return false;
          const token = tokens.refreshToken
            ? cipher.decrypt(tokens.refreshToken, secretContext('connection.refresh_token', connection.id))
            : cipher.decrypt(tokens.accessToken, secretContext('connection.access_token', connection.id));
          return client.revoke(token);
        },
      );
      const disconnected = await store.connections.disconnect(principal.tenantId, connection.id, {
        ...context,
        reason: 'disconnected by the user',
      });
      return { connection: publicConnection(disconnected), revokedAtProvider: revoked };
    },
  );
};
