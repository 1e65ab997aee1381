// buildApp(options): the whole service as a fastify instance. Tests build one per test and use
// app.inject; the server entry adds listen() and signals.

import { ProviderEvents } from '@openfeature/server-sdk';
import Fastify, { LogController, type FastifyInstance, type onSendHookHandler } from 'fastify';
import type { DestinationStream } from 'pino';
import { fileURLToPath } from 'node:url';
import { adminRoutes } from './admin/admin-routes.js';
import { billingRoutes } from './billing/billing-routes.js';
import { AuditBacklog } from './audit/audit-backlog.js';
import { actorOf, type Principal } from './auth/principal.js';
import authPlugin from './auth/auth-plugin.js';
import { FailedLogins } from './auth/failed-logins.js';
import { ConsoleSessions } from './auth/console-sessions.js';
import { serverKeys } from './auth/server-keys.js';
import { TokenCache } from './auth/token-cache.js';
import { createCalendarClients, type CalendarClients } from './calendar/calendar-clients.js';
import { calendarRoutes } from './calendar/calendar-routes.js';
import type { Config } from './config.js';
import { consoleRoutes } from './console/console-routes.js';
import { DecisionCache } from './gate/decision-cache.js';
import gatePlugin from './gate/gate-plugin.js';
import meterGate from './gate/meter-gate.js';
import { CALENDAR_LIMIT_FEATURE, countCalendars } from './calendar/calendar-features.js';
import { planNow } from './entitlements/decide.js';
import { entitlementRoutes } from './entitlements/entitlement-routes.js';
import { registerApiDocs } from './http/api-docs.js';
import { registerCors } from './http/cors.js';
import { lazyChildLoggerFactory } from './http/lazy-child-logger.js';
import { errorHandler, notFoundHandler } from './http/error-handler.js';
import { requestForLog } from './http/log-redaction.js';
import rateLimitPlugin from './http/rate-limit.js';
import { RequestLogController } from './http/request-log.js';
import {
  compileDeferred,
  serializerCompiler,
  validatorCompiler,
  type DeferredCompilations,
} from './http/validators.js';
import { ofrepEventRoutes } from './interop/ofrep-event-routes.js';
import { openOfrepEvents, type RunningOfrepEvents } from './interop/ofrep-events.js';
import { ofrepRoutes } from './interop/ofrep-routes.js';
import { unleashRoutes } from './interop/unleash-routes.js';
import { healthRoutes } from './http/health-routes.js';
import metricsPlugin from './metrics/metrics-plugin.js';
import { oauthRoutes } from './oauth/oauth-routes.js';
import type { FeatureDefinition } from './policy/types.js';
import type { WebhookTargets } from './webhooks/safe-target.js';
import { openServices, type EntitleServices } from './services.js';
import { consumeBody, limitReached } from './usage/usage-answers.js';
import type { Meters } from './usage/meters.js';
import { usageRoutes } from './usage/usage-routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The running service's parts, for whoever holds the app (the server entry, tests). Route
     * plugins never read it: each receives the narrow dependencies it uses as options.
     */
    entitle: EntitleServices;
  }
}

export interface BuildAppOptions {
  readonly config: Config;
  /** false: no logs (tests); otherwise pino options, optionally writing to a stream. */
  readonly logger?: false | { readonly level?: string; readonly stream?: DestinationStream };
  /** Milliseconds since the epoch; tests move time without waiting. */
  readonly clock?: () => number;
  /** The built console (default: dist/console-ui, what `npm run build` writes). */
  readonly consoleDirectory?: string;
  /** How webhook target hosts resolve (default: the system's DNS; tests give names that reach nothing). */
  readonly webhookTargets?: WebhookTargets;
}

const BUILT_CONSOLE = fileURLToPath(new URL('../dist/console-ui', import.meta.url));

/** Paths that must never reach a log line, at any level. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.authorization',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.codeVerifier',
  '*.code_verifier',
  '*.token',
  '*.secret',
  '*.clientSecret',
  '*.apiKey',
  '*.webhookSecrets',
  'req.headers["stripe-signature"]',
];

/**
 * The whole service as a fastify instance: the server's options, the services opened once, the
 * parts requests share, then every plugin in the order of {@link PLUGINS}.
 */
export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const app = createServer(options);
  app.addHook('onSend', responseHeaders);
  const services = await openAppServices(app, options);
  const parts = await openParts(app, services, options);
  // Schemas compile on first use, so a start compiles none; those still waiting when the server
  // listens compile then, one per turn of the event loop (an app that only injects never does).
  const deferred: DeferredCompilations = new Set();
  app.setValidatorCompiler(validatorCompiler(deferred));
  app.setSerializerCompiler(serializerCompiler(deferred));
  app.addHook('onListen', async () => compileDeferred(deferred, 1000));
  app.addHook('onClose', async () => deferred.clear());
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  for (const register of PLUGINS) await register(app, parts);
  return app;
}

/** What the plugin registrations draw on: the services, and the parts requests share. */
interface AppParts {
  readonly config: Config;
  readonly services: EntitleServices;
  /** A feature of the policy in force, by key. */
  readonly feature: (key: string) => FeatureDefinition | undefined;
  readonly sessions: ConsoleSessions;
  readonly events: RunningOfrepEvents;
  readonly tokens: TokenCache;
  readonly decisions: DecisionCache;
  /** Rows of denials and sensitive reads, batched into the audit chain. */
  readonly readAudit: AuditBacklog;
  readonly clients: CalendarClients;
  readonly consoleDirectory: string;
  /** Failed authentications per client address: the API, console sign-ins and the webhooks count together. */
  readonly failedLogins: FailedLogins;
}

type PluginRegistration = (app: FastifyInstance, parts: AppParts) => Promise<void>;

/**
 * Every plugin, in registration order: the OpenAPI document first (it is built from the routes
 * registered after it); CORS, authentication, rate limits (after authentication: every
 * authenticated route spends its family's budget) and the gates before any route; then the routes.
 */
const PLUGINS: readonly PluginRegistration[] = [
  registerApiDocs,
  registerCrossOrigin,
  registerAuth,
  registerRateLimits,
  registerGate,
  registerHealth,
  registerMeterGate,
  registerMetrics,
  registerCalendar,
  registerOauth,
  registerEntitlements,
  registerUsage,
  registerAdmin,
  registerBilling,
  registerOfrep,
  registerConsole,
  registerUnleash,
];

function createServer(options: BuildAppOptions): FastifyInstance {
  const { config } = options;
  return Fastify({
    logger:
      options.logger === false
        ? false
        : {
            level: options.logger?.level ?? config.logLevel,
            redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
            // The URL as logged: an OAuth callback's code and state stay out of the access log.
            serializers: { req: requestForLog },
            ...(options.logger?.stream ? { stream: options.logger.stream } : {}),
          },
    // One line per request (http/request-log.ts), or none with ENTITLE_REQUEST_LOG=false.
    // A request's logger is built only when the request logs (most never do).
    childLoggerFactory: lazyChildLoggerFactory,
    logController: config.requestLog ? new RequestLogController() : new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true },
    bodyLimit: 64 * 1024,
    // The client address behind the configured proxies only: failed-login limits key on it.
    ...(config.trustProxy.length > 0 ? { trustProxy: [...config.trustProxy] } : {}),
    // A slow client cannot hold a socket: the whole request (headers and body) must arrive in
    // time, else 408, and a silent connection is closed. Node takes these when the server is
    // created (set later, they do not apply) and checks them on the interval (default 30 s).
    requestTimeout: config.timeouts.requestMs,
    connectionTimeout: config.timeouts.idleMs,
    http: {
      requestTimeout: config.timeouts.requestMs,
      headersTimeout: Math.min(60_000, config.timeouts.requestMs),
      connectionsCheckingInterval: Math.min(1000, config.timeouts.requestMs),
    },
    // Responses carry x-request-id so a client's report can be matched with the log.
    requestIdHeader: false,
  });
}

/**
 * Responses carry x-request-id; the API docs are framed by no one. One synchronous hook: a hook
 * per header would cost every request a promise each.
 */
const responseHeaders: onSendHookHandler = (request, reply, payload, done) => {
  reply.header('x-request-id', request.id);
  if (
    request.url.startsWith('/docs') &&
    (request.url.length === 5 || request.url[5] === '/' || request.url[5] === '?')
  ) {
    reply.header('x-frame-options', 'DENY').header('x-content-type-options', 'nosniff');
  }
  done(null, payload);
};

/** The services, opened once: `app.entitle`, closed with the app, their upkeep run while it serves. */
async function openAppServices(app: FastifyInstance, options: BuildAppOptions): Promise<EntitleServices> {
  const { config } = options;
  const services = await openServices({
    config,
    logger: app.log,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.webhookTargets ? { webhookTargets: options.webhookTargets } : {}),
  });
  app.decorate('entitle', services);
  app.addHook('onClose', () => services.close());
  // Periodic purges run while the app serves: a timer with jitter, no cron needed.
  app.addHook('onReady', async () => services.maintenance.start());
  // Webhook deliveries are sent while the app serves (the CLI, which opens services too, sends none).
  app.addHook('onReady', async () => services.webhookWorker.start());
  return services;
}

/** The parts several plugins share, each closed with the app. */
async function openParts(app: FastifyInstance, services: EntitleServices, options: BuildAppOptions): Promise<AppParts> {
  const { config } = options;
  const keys = serverKeys(config.sessionSecret);
  if (!keys.shared && config.production)
    app.log.warn(
      'ENTITLE_SESSION_SECRET is not set: console sessions and event-stream links hold on this instance only, until it stops',
    );
  const sessions = new ConsoleSessions(keys.session, config.consoleSessionMs, services.clock);
  const events = openOfrepEvents({
    policy: services.policy,
    provider: services.provider,
    tenants: services.tenants,
    tokens: services.store.tokens,
    clock: services.clock,
    streamKey: keys.streams,
    config,
    logger: app.log,
  });
  // Streams end before the server waits for its connections to close.
  app.addHook('preClose', async () => events.close());
  // Both caches are exact: dropped on every change before the change's write returns.
  const tokens = new TokenCache((hash) => services.store.tokens.findBySecretHash(hash), services.store, {
    // The same bound as decisions: while the store is out of reach, known tokens for as long as known decisions.
    trustLastKnown: () => {
      const staleSince = services.tenants.staleSince;
      return staleSince === undefined || services.clock() - staleSince <= config.staleBoundMs;
    },
  });
  const decisions = new DecisionCache({
    clock: services.clock,
    subscribe: (invalidate) => {
      const events = [ProviderEvents.ConfigurationChanged, ProviderEvents.Stale, ProviderEvents.Ready] as const;
      for (const event of events) services.provider.events.addHandler(event, invalidate);
      return () => {
        for (const event of events) services.provider.events.removeHandler(event, invalidate);
      };
    },
  });
  app.addHook('onClose', async () => {
    tokens.close();
    decisions.close();
  });
  // Rows of denials and sensitive reads: batched into the chain, kept in memory while the store
  // is out of reach (a denial stays a 403), written on close (SIGTERM).
  const readAudit = new AuditBacklog({
    audit: services.store.audit,
    health: services.tenants,
    clock: services.clock,
    logger: app.log,
    windowMs: config.auditReads.windowMs,
    maxBatch: config.auditReads.maxBatch,
  });
  const unwatchReadAudit = services.metrics.watchAuditBacklog(() => readAudit.size);
  app.addHook('onClose', () => {
    unwatchReadAudit();
    return readAudit.close();
  });
  return {
    config,
    services,
    feature: (key) => services.policy.snapshot.features.get(key),
    sessions,
    events,
    tokens,
    decisions,
    readAudit,
    clients: await createCalendarClients(config),
    consoleDirectory: options.consoleDirectory ?? BUILT_CONSOLE,
    failedLogins: new FailedLogins(config.rateLimits.authFailures, services.clock),
  };
}

async function registerCrossOrigin(app: FastifyInstance, { config }: AppParts): Promise<void> {
  await registerCors(app, config.corsOrigins);
}

async function registerAuth(
  app: FastifyInstance,
  { config, services, tokens, sessions, failedLogins }: AppParts,
): Promise<void> {
  await app.register(authPlugin, {
    failedLogins,
    findToken: (hash) => tokens.find(hash),
    ...(config.jwt ? { jwt: config.jwt } : {}),
    clock: services.clock,
    maxFailuresPerMinute: config.rateLimits.authFailures,
    openSession: (value) => sessions.open(value),
  });
}

async function registerRateLimits(app: FastifyInstance, { config }: AppParts): Promise<void> {
  await app.register(rateLimitPlugin, { limits: config.rateLimits });
}

async function registerGate(app: FastifyInstance, { config, services, decisions, readAudit }: AppParts): Promise<void> {
  const auditReads = config.auditReads.mode;
  const consume = consumeFor(services.meters);
  await app.register(gatePlugin, {
    client: services.client,
    provider: services.provider,
    cache: decisions,
    features: () => services.policy.snapshot.features,
    consume: async (principal, feature, amount, options) => {
      const result = await consume(principal, feature, amount, options);
      return { granted: result.granted, body: consumeBody(result) };
    },
    onDenied: async (request, denial) => {
      services.metrics.gateDenials.inc({ feature: denial.feature, reason: denial.reason });
      // 401s are authentication failures, not decisions: the access log has them.
      if (denial.status === 401 || !denial.principal || auditReads === 'off') return;
      await readAudit.append({
        actor: actorOf(denial.principal),
        tenantId: denial.principal.tenantId,
        action: 'gate.denied',
        target: `feature:${denial.feature}`,
        outcome: 'denied',
        details: {
          status: denial.status,
          reason: denial.reason,
          method: request.method,
          route: request.routeOptions.url ?? request.url,
          requestId: request.id,
        },
      });
    },
  });
}

/**
 * The one consume of a request, for the meter gate and `request.entitlements.consume` alike:
 * every audit row it writes names the request.
 */
function consumeFor(meters: Meters) {
  return (
    principal: Principal,
    feature: string,
    amount: number,
    options: { readonly idempotencyKey?: string | undefined; readonly requestId?: string | undefined },
  ) =>
    meters.consume({
      tenantId: principal.tenantId,
      feature,
      amount,
      idempotencyKey: options.idempotencyKey,
      context: {
        actor: actorOf(principal),
        ...(options.requestId === undefined ? {} : { requestId: options.requestId }),
      },
    });
}

async function registerHealth(app: FastifyInstance, { services: { store, policy, tenants } }: AppParts): Promise<void> {
  await app.register(healthRoutes, { store, policy, tenants });
}

async function registerMeterGate(app: FastifyInstance, { services: { meters } }: AppParts): Promise<void> {
  await app.register(meterGate, {
    isMeter: (key) => meters.isMeter(key),
    consume: consumeFor(meters),
    giveBack: (consumption) => meters.giveBack(consumption),
    limitReached,
  });
}

async function registerMetrics(app: FastifyInstance, { services }: AppParts): Promise<void> {
  await app.register(metricsPlugin, { metrics: services.metrics });
}

async function registerCalendar(
  app: FastifyInstance,
  { config, services, feature, clients, readAudit }: AppParts,
): Promise<void> {
  await app.register(calendarRoutes, {
    store: services.store,
    cipher: services.cipher,
    clock: services.clock,
    feature,
    clients,
    auditRead: config.auditReads.mode === 'all' ? (event) => readAudit.append(event) : undefined,
    onProviderError: (provider, code) => services.metrics.calendarProviderErrors.inc({ provider, code }),
  });
}

async function registerOauth(app: FastifyInstance, { config, services, feature, clients }: AppParts): Promise<void> {
  await app.register(oauthRoutes, {
    store: services.store,
    cipher: services.cipher,
    clock: services.clock,
    feature,
    redirects: {
      google: config.google,
      microsoft: config.microsoft,
      oauthRedirectAllowList: config.oauthRedirectAllowList,
    },
    clients,
    maintenance: services.maintenance,
  });
}

async function registerEntitlements(
  app: FastifyInstance,
  { services: { policy, tenants, store, clock } }: AppParts,
): Promise<void> {
  await app.register(entitlementRoutes, {
    policy: () => policy.snapshot,
    planOf: (tenantId) => {
      // In memory: no promise (the decisions of the same request have just read it).
      const tenant = tenants.get(tenantId);
      if (tenant !== undefined || tenants.has(tenantId))
        return tenant ? planNow(policy.snapshot, tenant, clock()) : undefined;
      return tenants.load(tenantId).then((read) => (read ? planNow(policy.snapshot, read, clock()) : undefined));
    },
    counters: { [CALENDAR_LIMIT_FEATURE]: (tenantId) => countCalendars(store.connections, tenantId) },
  });
}

async function registerUsage(app: FastifyInstance, { services: { meters } }: AppParts): Promise<void> {
  await app.register(usageRoutes, { meters });
}

async function registerAdmin(app: FastifyInstance, { config, services }: AppParts): Promise<void> {
  await app.register(adminRoutes, {
    store: services.store,
    operations: services.operations,
    policy: services.policy,
    tenants: services.tenants,
    releases: services.releases,
    cipher: services.cipher,
    clock: services.clock,
    policyDirectory: config.policyDirectory,
    meters: services.meters,
    reader: services.policyReader,
    webhooks: services.webhooks,
    prefix: '/api/admin',
  });
}

async function registerBilling(app: FastifyInstance, { services, failedLogins }: AppParts): Promise<void> {
  await app.register(billingRoutes, { sync: services.billing, failedLogins });
}

async function registerOfrep(
  app: FastifyInstance,
  { services: { policy, provider }, events, decisions }: AppParts,
): Promise<void> {
  await app.register(ofrepRoutes, { policy, provider, events, decisions });
  await app.register(ofrepEventRoutes, { events });
}

async function registerConsole(
  app: FastifyInstance,
  { services, sessions, tokens, consoleDirectory, failedLogins }: AppParts,
): Promise<void> {
  await app.register(consoleRoutes, {
    sessions,
    findToken: (hash) => tokens.find(hash),
    audit: services.store.audit,
    clock: services.clock,
    assetsDirectory: consoleDirectory,
    failedLogins,
  });
}

async function registerUnleash(
  app: FastifyInstance,
  { services: { policy, tenants, releases, clock } }: AppParts,
): Promise<void> {
  await app.register(unleashRoutes, { policy, tenants, releases, clock });
}
