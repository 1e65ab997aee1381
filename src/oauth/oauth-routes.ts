// OAuth for calendar providers: initiation (gated on can_use_calendar_sync only when the
// purpose is "calendar") and the callback that exchanges the code and stores the connection.

import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { actorOf, principalOf, type Principal } from '../auth/principal.js';
import type { CalendarClient, CalendarProviderName, OAuthTokenSet } from '../calendar/calendar-client.js';
import { requireClient, type CalendarClients } from '../calendar/calendar-clients.js';
import {
  CALENDAR_FEATURE,
  CALENDAR_LIMIT_FEATURE,
  CALENDAR_PURPOSE,
  calendarLimit,
  calendarLimitReached,
} from '../calendar/calendar-features.js';
import {
  CallbackAnswerBody,
  ConnectForbidden,
  InitiateAnswerBody,
  ProviderFailedBody,
  publicConnection,
  ReconnectBody,
  UnavailableBody,
} from '../calendar/calendar-schemas.js';
import { sealTokens } from '../calendar/connection-tokens.js';
import { providerHttpError } from '../calendar/provider-http-errors.js';
import type { Config } from '../config.js';
import { EntitlementUnavailableError, InvalidInputError, LimitReachedError, OAuthStateError } from '../errors.js';
import { allowedCount, fitsLimit } from '../entitlements/limits.js';
import { featureNotAvailable } from '../gate/feature-denial.js';
import type { RequestEntitlements } from '../gate/request-entitlements.js';
import { ErrorBody, LIMITED_ERRORS } from '../http/schemas.js';
import type { FeatureDefinition } from '../policy/types.js';
import type { TokenCipher } from '../secrets/token-crypto.js';
import type { EntitleStore } from '../store/store.js';
import type { Maintenance } from '../maintenance/maintenance.js';
import { finishAuthorization, PURGE_OAUTH_STATES, startAuthorization } from './oauth-state.js';

export interface OAuthRoutesOptions {
  readonly store: Pick<EntitleStore, 'connections' | 'audit' | 'oauthStates'>;
  readonly cipher: TokenCipher;
  readonly clock: () => number;
  /** The policy's feature definitions in force (names and upgrade messages for refusals). */
  readonly feature: (key: string) => FeatureDefinition | undefined;
  /** Redirect URIs: the configured ones per provider and the allow-list of others. */
  readonly redirects: Pick<Config, 'google' | 'microsoft' | 'oauthRedirectAllowList'>;
  readonly clients: CalendarClients;
  /** Initiations add OAuth states: they nudge the purge of expired ones. */
  readonly maintenance: Pick<Maintenance, 'nudge'>;
}

const ProviderParams = Type.Object({ provider: Type.Union([Type.Literal('google'), Type.Literal('microsoft')]) });
const Purpose = Type.String({
  pattern: '^[a-z][a-z0-9_]{0,31}$',
  description: 'what the connection is for, e.g. "calendar" or "login"',
});
const CallbackFields = Type.Object(
  {
    code: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    state: Type.String({ minLength: 1, maxLength: 512 }),
    purpose: Type.Optional(Purpose),
    error: Type.Optional(Type.String({ maxLength: 256 })),
    error_description: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
type CallbackInput = Static<typeof CallbackFields>;

/** Both routes are rate-limited; a connection for purpose "calendar" is gated and limited. */
const OAUTH_ERRORS = { ...LIMITED_ERRORS, 400: ErrorBody, 403: ConnectForbidden, 503: UnavailableBody } as const;
const CALLBACK_RESPONSES = {
  ...OAUTH_ERRORS,
  200: { ...CallbackAnswerBody, description: 'The account was connected already: its tokens were replaced' },
  201: { ...CallbackAnswerBody, description: 'A new connection' },
  409: ReconnectBody,
  502: ProviderFailedBody,
} as const;
const CALLBACK_DESCRIPTION =
  'Consumes the state (single-use, bound to tenant, user, provider and purpose), exchanges the code with the PKCE verifier and stores the connection with encrypted tokens. ' +
  'For purpose "calendar" the feature and the limit are checked again first.';

/** Revokes a grant that will not be stored (refresh token first: it outlives the access token). */
async function revokeQuietly(client: CalendarClient, tokens: OAuthTokenSet): Promise<boolean> {
  try {
    return await client.revoke(tokens.refreshToken ?? tokens.accessToken);
  } catch {
    // Best effort: the provider may be unreachable; the tokens were never stored, and expire.
    return false;
  }
}

export const oauthRoutes: FastifyPluginAsyncTypebox<OAuthRoutesOptions> = async (
  fastify,
  { store, cipher, clock, feature, redirects: config, clients, maintenance },
) => {
  const stateDeps = { store, cipher, clock };
  const tags = ['oauth'];

  function redirectUriFor(provider: CalendarProviderName, requested: string | undefined): string {
    const configured = provider === 'google' ? config.google?.redirectUri : config.microsoft?.redirectUri;
    if (requested === undefined || requested === configured) return configured as string;
    if (!config.oauthRedirectAllowList.includes(requested))
      throw new InvalidInputError('redirectUri: not on the allow-list (ENTITLE_OAUTH_REDIRECT_ALLOWLIST)');
    return requested;
  }

  fastify.post(
    '/api/oauth/:provider/initiate/',
    {
      config: {
        auth: 'required',
        feature: {
          key: CALENDAR_FEATURE,
          when: (request) => (request.body as { purpose?: unknown }).purpose === CALENDAR_PURPOSE,
        },
      },
      schema: {
        tags,
        summary: "Start connecting a provider account: the URL of the provider's consent page",
        description:
          'For purpose "calendar": gated on can_use_calendar_sync and refused (403) when the tenant has reached max_connected_calendars.',
        params: ProviderParams,
        body: Type.Object(
          {
            purpose: Purpose,
            redirectUri: Type.Optional(Type.String({ maxLength: 2048 })),
            loginHint: Type.Optional(Type.String({ maxLength: 320 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: InitiateAnswerBody, ...OAUTH_ERRORS },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { provider } = request.params;
      const client = requireClient(clients, provider);
      const redirectUri = redirectUriFor(provider, request.body.redirectUri);
      if (request.body.purpose === CALENDAR_PURPOSE) {
        const { max, used } = await calendarLimit(request.entitlements, store.connections, principal.tenantId);
        if (!fitsLimit(max, used)) {
          await store.audit.append({
            actor: actorOf(principal),
            tenantId: principal.tenantId,
            action: 'oauth.initiate',
            target: `provider:${provider}`,
            outcome: 'denied',
            details: {
              reason: 'limit reached',
              feature: CALENDAR_LIMIT_FEATURE,
              limit: max,
              current: used,
              requestId: request.id,
            },
          });
          throw calendarLimitReached(feature(CALENDAR_LIMIT_FEATURE), max, used);
        }
      }
      const started = await startAuthorization(
        stateDeps,
        { principal, provider, purpose: request.body.purpose, redirectUri },
        { actor: actorOf(principal), requestId: request.id },
      );
      // Each initiation adds a state: purge the expired ones if the timer is overdue (not awaited).
      void maintenance.nudge(PURGE_OAUTH_STATES);
      const authorizationUrl = client.authorizationUrl({
        state: started.state,
        codeChallenge: started.codeChallenge,
        redirectUri,
        ...(request.body.loginHint ? { loginHint: request.body.loginHint } : {}),
      });
      return { authorizationUrl, state: started.state, expiresAt: started.expiresAt };
    },
  );

  async function callback(
    principal: Principal,
    entitlements: RequestEntitlements,
    provider: CalendarProviderName,
    input: CallbackInput,
    requestId: string,
  ) {
    const context = { actor: actorOf(principal), requestId };
    const client = requireClient(clients, provider);
    const deny = async (error: Error, reason: string): Promise<never> => {
      await store.audit.append({
        ...context,
        tenantId: principal.tenantId,
        action: 'oauth.callback',
        target: `provider:${provider}`,
        outcome: 'denied',
        details: { reason, requestId },
      });
      throw error;
    };
    let authorization;
    try {
      authorization = await finishAuthorization(stateDeps, {
        state: input.state,
        provider,
        principal,
        ...(input.purpose ? { purpose: input.purpose } : {}),
      });
    } catch (error) {
      if (error instanceof OAuthStateError) return deny(error, error.message);
      throw error;
    }
    const { record, codeVerifier } = authorization;
    if (input.error !== undefined)
      return deny(
        new OAuthStateError(`authorization was not granted at ${provider}: ${input.error}`),
        `provider error ${input.error}`,
      );
    if (input.code === undefined) return deny(new InvalidInputError('code: required'), 'no code');

    let limit: { feature: string; max: number } | undefined;
    if (record.purpose === CALENDAR_PURPOSE) {
      // Entitlements may have changed since the flow started: check again before storing anything.
      const allowed = await entitlements.details(CALENDAR_FEATURE);
      // Fail closed, as the gate does: no decision is a 503, never a connection.
      if (allowed.errorCode !== undefined)
        return deny(new EntitlementUnavailableError(), `evaluation error ${allowed.errorCode}`);
      if (allowed.value !== true) {
        const denial = featureNotAvailable(CALENDAR_FEATURE, feature(CALENDAR_FEATURE), allowed.cause);
        return deny(denial, 'feature not available');
      }
      // The store refuses when count >= max: with the whole number allowed, that is fitsLimit's rule.
      limit = { feature: CALENDAR_LIMIT_FEATURE, max: allowedCount(await entitlements.limit(CALENDAR_LIMIT_FEATURE)) };
    }
    let tokens;
    try {
      tokens = await client.exchangeCode(input.code, codeVerifier, record.redirectUri);
    } catch (error) {
      const mapped = providerHttpError(error, provider);
      await store.audit.append({
        ...context,
        tenantId: principal.tenantId,
        action: 'oauth.callback',
        target: `provider:${provider}`,
        outcome: 'failure',
        details: { error: (mapped as Error).message },
      });
      throw mapped;
    }
    try {
      const { connection, replaced } = await store.connections.connect(
        {
          id: randomUUID(),
          tenantId: principal.tenantId,
          userId: principal.userId,
          provider,
          purpose: record.purpose,
          accountEmail: tokens.accountEmail,
          scopes: tokens.scopes,
          sealTokens: (connectionId) => sealTokens(cipher, connectionId, tokens),
        },
        context,
        limit,
      );
      return { connection: publicConnection(connection), replaced };
    } catch (error) {
      if (error instanceof LimitReachedError) {
        // Another connection won the race for the last place: the grant just made is given back.
        const revoked = await revokeQuietly(client, tokens);
        const details = (error as { details?: { limit?: number; current?: number } }).details;
        return deny(
          calendarLimitReached(feature(CALENDAR_LIMIT_FEATURE), details?.limit ?? 0, details?.current ?? 0),
          revoked ? 'limit reached; the grant was revoked at the provider' : 'limit reached',
        );
      }
      throw error;
    }
  }

  // The provider's redirect brings code and state in the query string (GET); a client that
  // caught the redirect itself may post them (POST). Otherwise one route: same checks, same answers.
  const callbackSchema = {
    tags,
    description: CALLBACK_DESCRIPTION,
    params: ProviderParams,
    response: CALLBACK_RESPONSES,
  };

  fastify.get(
    '/api/oauth/:provider/callback/',
    {
      config: { auth: 'required' },
      schema: {
        ...callbackSchema,
        summary: 'Finish connecting: code and state in the query string, as the provider redirected with them',
        querystring: CallbackFields,
      },
    },
    async (request, reply) => {
      const result = await callback(
        principalOf(request),
        request.entitlements,
        request.params.provider,
        request.query,
        request.id,
      );
      return reply.status(result.replaced ? 200 : 201).send(result);
    },
  );

  fastify.post(
    '/api/oauth/:provider/callback/',
    {
      config: { auth: 'required' },
      schema: { ...callbackSchema, summary: 'Finish connecting: code and state in the body', body: CallbackFields },
    },
    async (request, reply) => {
      const result = await callback(
        principalOf(request),
        request.entitlements,
        request.params.provider,
        request.body,
        request.id,
      );
      return reply.status(result.replaced ? 200 : 201).send(result);
    },
  );
};
