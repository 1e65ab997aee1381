// Environment → one typed, validated Config. Nothing else reads process.env.

import { isIP } from 'node:net';
import { resolve } from 'node:path';

export type Env = Readonly<Record<string, string | undefined>>;

/** Where the store and the policy live: shared by the server and the CLI. */
export interface StorageConfig {
  /** SQLite file (default data/entitle.db), or ':memory:'. */
  readonly databasePath: string;
  /** Directory of policy files (default policies/). */
  readonly policyDirectory: string;
}

/** Token encryption keys: several accepted, one active. Absent in development means "use the dev key file". */
export interface EncryptionConfig {
  /** key id → 32-byte key. */
  readonly keys: ReadonlyMap<string, Buffer>;
  readonly activeKeyId: string | undefined;
}

export interface JwtConfig {
  /** HS256 shared secret, or… */
  readonly secret: string | undefined;
  /** …a JWKS URL for RS256/ES256 tokens from an identity provider. */
  readonly jwksUrl: string | undefined;
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  readonly tenantClaim: string;
  readonly userClaim: string;
  readonly roleClaim: string;
  /**
   * The role claim values that make an Entitle operator (admin API, every tenant), a read-only
   * SDK client and an app backend metering its own tenant (service). Not "admin": many identity
   * providers say "admin" for a tenant's own admin.
   */
  readonly adminRole: string;
  readonly clientRole: string;
  readonly serviceRole: string;
  /** Whether tokens without `exp` are accepted (ENTITLE_JWT_ALLOW_NO_EXP=true); by default they are refused. */
  readonly allowNoExp: boolean;
}

export interface GoogleConfig {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUri: string;
  readonly authUrl: string;
  readonly tokenUrl: string;
  readonly revokeUrl: string;
  readonly apiUrl: string;
}

export interface MicrosoftConfig {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUri: string;
  readonly authorityUrl: string;
  readonly tenant: string;
  readonly graphUrl: string;
}

export interface UnleashConfig {
  readonly url: string;
  readonly apiToken: string;
  readonly appName: string;
  /** How often release toggles are fetched again (UNLEASH_REFRESH_INTERVAL_MS, default 15 s). */
  readonly refreshIntervalMs: number;
}

/** Stripe as the billing source (docs/billing.md). */
export interface StripeConfig {
  /** STRIPE_WEBHOOK_SECRET: one or more whsec_… secrets, comma-separated; all are accepted (rotation). */
  readonly webhookSecrets: readonly string[];
  /** STRIPE_API_KEY: reads subscriptions back (ordering, reconcile). */
  readonly apiKey: string | undefined;
  /** STRIPE_API_URL: another base URL for the API (stripe-mock, a test's fake). */
  readonly apiUrl: URL | undefined;
}

export interface BillingConfig {
  readonly stripe: StripeConfig;
  /** ENTITLE_BILLING_RECONCILE_INTERVAL (e.g. 15m, 1h): reconcile in the server this often; undefined: never. */
  readonly reconcileIntervalMs: number | undefined;
}

/** Outbound webhooks (docs/webhooks.md). */
export interface WebhooksConfig {
  /** ENTITLE_WEBHOOKS_RETRY_SCHEDULE: the delay before each retry; a delivery fails after the last. */
  readonly retryScheduleMs: readonly number[];
  /** ENTITLE_WEBHOOKS_ALLOW_PRIVATE=true: http and private, loopback and link-local targets allowed (tests, on-premise). */
  readonly allowPrivate: boolean;
  /** ENTITLE_WEBHOOKS_DISABLE_AFTER: an endpoint is disabled after this many failed deliveries in a row. */
  readonly disableAfter: number;
  /** ENTITLE_WEBHOOKS_ATTEMPT_TIMEOUT: how long an attempt waits for an answer; a claim's lease is this and 5 s. */
  readonly attemptTimeoutMs: number;
  /** ENTITLE_WEBHOOKS_MAX_ENDPOINTS: endpoints one principal may register. */
  readonly maxEndpointsPerPrincipal: number;
  /** ENTITLE_WEBHOOKS_SECRET_OVERLAP: how long a rotated-out secret keeps signing beside the new one. */
  readonly secretOverlapMs: number;
}

/** Everything the service needs, validated once at start. */
export interface Config extends StorageConfig {
  readonly production: boolean;
  readonly port: number;
  readonly host: string;
  readonly logLevel: string;
  /** One access-log line per request at info level (ENTITLE_REQUEST_LOG, default true). */
  readonly requestLog: boolean;
  /**
   * Audit rows of sensitive reads (ENTITLE_AUDIT_READS): all (denials and successful reads such
   * as calendar lists), denials only, or off. Written in batches: a row waits at most windowMs or
   * until maxBatch rows wait (ENTITLE_AUDIT_READS_WINDOW_MS, ENTITLE_AUDIT_READS_MAX_BATCH).
   */
  /** ENTITLE_AUDIT_RETENTION / ENTITLE_AUDIT_ARCHIVE_DIR: rows older than this are archived there. */
  readonly auditRetention: { readonly retentionMs: number; readonly directory: string } | undefined;
  readonly auditReads: {
    readonly mode: 'all' | 'denials' | 'off';
    readonly windowMs: number;
    readonly maxBatch: number;
  };
  readonly databaseUrl: string | undefined;
  /** PostgreSQL schema for the store (DATABASE_SCHEMA); default: the connection's search_path. */
  readonly databaseSchema: string | undefined;
  readonly encryption: EncryptionConfig;
  readonly jwt: JwtConfig | undefined;
  /** Unset when the provider is not configured: its routes then answer 503 saying what to set. */
  readonly google: GoogleConfig | undefined;
  readonly microsoft: MicrosoftConfig | undefined;
  /** Redirect URIs an OAuth initiation may ask for (each provider's configured one is always allowed). */
  readonly oauthRedirectAllowList: readonly string[];
  readonly unleash: UnleashConfig | undefined;
  /** Whether to create the demo tenant and token on first start (development only). */
  readonly seedDemo: boolean;
  /**
   * Where the first start writes the demo tokens when no terminal is attached (a file created
   * with mode 0600); unset: they are shown on the terminal only, never in the log.
   */
  readonly firstStartTokensFile: string | undefined;
  /** How long decisions may come from the last known state when the store is out of reach. */
  readonly staleBoundMs: number;
  /** Requests per minute per authenticated principal, by route family (docs/limits.md). */
  readonly rateLimits: RateLimitConfig;
  /** Unset when no Stripe setting is given: the webhook then answers 503 saying what to set. */
  readonly billing: BillingConfig | undefined;
  /**
   * Proxies whose X-Forwarded-For is believed (ENTITLE_TRUST_PROXY: addresses or CIDRs); empty:
   * the socket address is the client's.
   */
  readonly trustProxy: readonly string[];
  /**
   * requestMs: the whole request, headers and body, must arrive within it (else 408);
   * idleMs: a connection silent this long is closed. Slow-body clients cannot hold sockets.
   */
  readonly timeouts: { readonly requestMs: number; readonly idleMs: number };
  /** Origins (scheme://host[:port]) whose pages may call the app-facing routes (ENTITLE_CORS_ORIGINS); none by default. */
  readonly corsOrigins: readonly string[];
  /**
   * Signs console sessions and event-stream links (ENTITLE_SESSION_SECRET, 32+ characters). Unset:
   * a random secret per process, so sessions and stream links hold on this instance until it stops.
   */
  readonly sessionSecret: string | undefined;
  /** How long a console session lasts after sign-in (ENTITLE_CONSOLE_SESSION_MINUTES, default 480). */
  readonly consoleSessionMs: number;
  /**
   * OFREP event streams: caps in all, per tenant and per user, the heartbeat period, how often
   * open streams' credentials are checked again, and the public base URL links use.
   */
  readonly streams: {
    readonly max: number;
    readonly perTenant: number;
    readonly perUser: number;
    readonly checkMs: number;
    readonly heartbeatMs: number;
    readonly publicUrl: string | undefined;
  };
  readonly webhooks: WebhooksConfig;
  /** The tenant directory: tenants kept in memory at most (ENTITLE_DIRECTORY_MAX_TENANTS); others are read on first use. */
  readonly directory: { readonly maxTenants: number };
}

/** Requests per minute per principal for each route family, and failed authentications per client address. */
export interface RateLimitConfig {
  readonly admin: number;
  readonly oauth: number;
  readonly calendar: number;
  /** Entitlements, OFREP and Unleash: the read paths SDKs poll. */
  readonly decisions: number;
  /** The usage API (/api/usage): every request may store an outcome or a reservation for 24 hours. */
  readonly usage: number;
  readonly authFailures: number;
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** "90d", "12h", "30m", "45s", "2w" → milliseconds; undefined for anything else. */
export function parseDurationMs(input: string): number | undefined {
  const match = /^(\d{1,9})\s*([smhdw])$/.exec(input.trim());
  return match ? Number(match[1]) * (DURATION_UNITS_MS[match[2] as string] as number) : undefined;
}

/** A configuration problem that stops the start, naming the variable to fix. */
export class ConfigError extends Error {
  readonly code = 'ENT_ERR_CONFIG';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads ENTITLE_DB and ENTITLE_POLICIES; relative paths are relative to the working directory. */
function loadStorageConfig(env: Env = process.env, cwd: string = process.cwd()): StorageConfig {
  const databasePath = env.ENTITLE_DB?.trim() || 'data/entitle.db';
  return {
    databasePath: databasePath === ':memory:' ? databasePath : resolve(cwd, databasePath),
    policyDirectory: resolve(cwd, env.ENTITLE_POLICIES?.trim() || 'policies'),
  };
}

export interface LoadConfigOptions {
  /**
   * 'server' (default): everything the service needs to start. 'cli': the same Config, but a
   * production database may be read and managed without the encryption keys; the commands that
   * encrypt or decrypt ask for them (productionKeysProblem).
   */
  readonly purpose?: 'server' | 'cli';
}

const PRODUCTION_KEYS_PROBLEM =
  'ENTITLE_ENCRYPTION_KEYS is required in production: "keyid:<32 bytes base64>" (entitle keys generate prints one)';

/** Why `config` cannot encrypt tokens in production, if it cannot. */
export function productionKeysProblem(config: Pick<Config, 'production' | 'encryption'>): string | undefined {
  return config.production && config.encryption.keys.size === 0 ? PRODUCTION_KEYS_PROBLEM : undefined;
}

/** Reads the whole configuration; throws one ConfigError listing every problem. */
export function loadConfig(
  env: Env = process.env,
  cwd: string = process.cwd(),
  options: LoadConfigOptions = {},
): Config {
  const read = new EnvReader(env);
  const production = env.NODE_ENV === 'production';
  // Section by section, in this order: the problems are listed in the order they are found.
  const server = serverSection(read);
  const encryption = parseEncryptionKeys(
    read.text('ENTITLE_ENCRYPTION_KEYS'),
    read.text('ENTITLE_ENCRYPTION_KEY_ID'),
    read.problems,
  );
  if (options.purpose !== 'cli' && production && encryption.keys.size === 0)
    read.problems.push(PRODUCTION_KEYS_PROBLEM);
  const jwt = jwtSection(read);
  const calendar = calendarSection(read);
  const unleash = unleashSection(read);
  const databaseUrl = read.text('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl))
    read.problems.push('DATABASE_URL must be a postgres:// URL');
  const limits = limitsSection(read);
  const browsers = browserSection(read);
  const streams = streamsSection(read);
  const requestLog = read.text('ENTITLE_REQUEST_LOG') ?? 'true';
  if (requestLog !== 'true' && requestLog !== 'false')
    read.problems.push(`ENTITLE_REQUEST_LOG must be true or false (got ${JSON.stringify(requestLog)})`);
  const audit = auditSection(read, cwd);
  const billing = parseBillingConfig(read.text, read.problems);
  const webhooks = webhooksSection(read);
  const directory = directorySection(read);

  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return {
    ...loadStorageConfig(env, cwd),
    production,
    ...server,
    requestLog: requestLog === 'true',
    ...audit,
    databaseUrl,
    databaseSchema: read.text('DATABASE_SCHEMA'),
    encryption,
    jwt,
    ...calendar,
    unleash,
    seedDemo: !production && env.ENTITLE_SEED_DEMO !== 'false',
    firstStartTokensFile: read.text('ENTITLE_FIRST_START_TOKENS_FILE'),
    ...limits,
    billing,
    ...browsers,
    streams,
    webhooks,
    directory,
  };
}

/** The environment, read one variable at a time; every problem found is kept for one ConfigError. */
class EnvReader {
  readonly problems: string[] = [];

  constructor(readonly env: Env) {}

  /** A variable's value, trimmed; undefined when unset or blank. */
  readonly text = (name: string): string | undefined => {
    const value = this.env[name]?.trim();
    return value ? value : undefined;
  };

  /** An http(s) URL without trailing slashes. */
  url(name: string, fallback: string): string {
    const value = this.text(name) ?? fallback;
    try {
      const parsed = new URL(value);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
    } catch {
      this.problems.push(`${name} must be an http(s) URL (got ${JSON.stringify(value)})`);
    }
    return value.replace(/\/+$/, '');
  }

  /** A whole number from `min` to `max`. */
  whole(name: string, fallback: number, min: number, max: number): number {
    const value = this.text(name) ?? String(fallback);
    if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max)
      this.problems.push(`${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
    return Number(value);
  }

  /** A comma-separated list, entries trimmed, empty ones dropped. */
  list(name: string): string[] {
    return (this.text(name) ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
  }
}

/** Where the server listens and what it logs. */
function serverSection(read: EnvReader): Pick<Config, 'port' | 'host' | 'logLevel'> {
  const port = Number(read.text('PORT') ?? '3000');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    read.problems.push(`PORT must be a port number 0-65535 (got ${JSON.stringify(read.env.PORT)})`);
  return { port, host: read.text('HOST') ?? '127.0.0.1', logLevel: read.text('LOG_LEVEL') ?? 'info' };
}

/** JWT authentication: on when a secret or a JWKS URL is set. */
function jwtSection(read: EnvReader): JwtConfig | undefined {
  const { text } = read;
  const jwtSecret = text('ENTITLE_JWT_SECRET');
  const jwksUrl = text('ENTITLE_JWT_JWKS_URL');
  if (jwtSecret !== undefined && jwtSecret.length < 32)
    read.problems.push('ENTITLE_JWT_SECRET must be at least 32 characters');
  if (jwksUrl !== undefined) read.url('ENTITLE_JWT_JWKS_URL', jwksUrl);
  if (!jwtSecret && !jwksUrl) return undefined;
  return {
    secret: jwtSecret,
    jwksUrl,
    issuer: text('ENTITLE_JWT_ISSUER'),
    audience: text('ENTITLE_JWT_AUDIENCE'),
    tenantClaim: text('ENTITLE_JWT_TENANT_CLAIM') ?? 'tenant_id',
    userClaim: text('ENTITLE_JWT_USER_CLAIM') ?? 'sub',
    roleClaim: text('ENTITLE_JWT_ROLE_CLAIM') ?? 'role',
    adminRole: text('ENTITLE_JWT_ADMIN_ROLE') ?? 'entitle:admin',
    clientRole: text('ENTITLE_JWT_CLIENT_ROLE') ?? 'entitle:client',
    serviceRole: text('ENTITLE_JWT_SERVICE_ROLE') ?? 'entitle:service',
    allowNoExp: read.env.ENTITLE_JWT_ALLOW_NO_EXP === 'true',
  };
}

/** The calendar providers (each on when its client id, secret and redirect URI are set) and where OAuth may return. */
function calendarSection(read: EnvReader): Pick<Config, 'google' | 'microsoft' | 'oauthRedirectAllowList'> {
  const google = providerConfig('GOOGLE', read.text, read.problems, () => ({
    authUrl: read.url('GOOGLE_OAUTH_AUTH_URL', 'https://accounts.google.com/o/oauth2/v2/auth'),
    tokenUrl: read.url('GOOGLE_OAUTH_TOKEN_URL', 'https://oauth2.googleapis.com/token'),
    revokeUrl: read.url('GOOGLE_OAUTH_REVOKE_URL', 'https://oauth2.googleapis.com/revoke'),
    apiUrl: read.url('GOOGLE_API_URL', 'https://www.googleapis.com'),
  }));
  const httpsUrl = (name: string, value: string): string => {
    if (!value.startsWith('https://'))
      read.problems.push(`${name} must be an https URL (the Graph client attaches tokens to https URLs only)`);
    return value;
  };
  const microsoft = providerConfig('MICROSOFT', read.text, read.problems, () => ({
    authorityUrl: read.url('MICROSOFT_AUTHORITY_URL', 'https://login.microsoftonline.com'),
    tenant: read.text('MICROSOFT_TENANT') ?? 'common',
    // The Graph client sends the bearer token to https URLs only: an http Graph URL would fail every call.
    graphUrl: httpsUrl('MICROSOFT_GRAPH_URL', read.url('MICROSOFT_GRAPH_URL', 'https://graph.microsoft.com')),
  }));
  return {
    google: google as GoogleConfig | undefined,
    microsoft: microsoft as MicrosoftConfig | undefined,
    oauthRedirectAllowList: read.list('ENTITLE_OAUTH_REDIRECT_ALLOWLIST'),
  };
}

/** The Unleash upstream, on when UNLEASH_URL and its token are set. */
function unleashSection(read: EnvReader): UnleashConfig | undefined {
  const unleashUrl = read.text('UNLEASH_URL');
  const unleashToken = read.text('UNLEASH_API_TOKEN');
  if (unleashUrl && !unleashToken) read.problems.push('UNLEASH_API_TOKEN is required with UNLEASH_URL');
  const unleashRefresh = read.text('UNLEASH_REFRESH_INTERVAL_MS') ?? '15000';
  if (!/^\d{2,9}$/.test(unleashRefresh) || Number(unleashRefresh) < 50)
    read.problems.push(
      `UNLEASH_REFRESH_INTERVAL_MS must be a whole number of milliseconds, at least 50 (got ${JSON.stringify(unleashRefresh)})`,
    );
  if (!unleashUrl || !unleashToken) return undefined;
  return {
    url: read.url('UNLEASH_URL', unleashUrl),
    apiToken: unleashToken,
    appName: read.text('UNLEASH_APP_NAME') ?? 'entitle',
    refreshIntervalMs: Number(unleashRefresh),
  };
}

/** How long decisions trust the last known state, the rate limits, the proxies and the timeouts. */
function limitsSection(read: EnvReader): Pick<Config, 'staleBoundMs' | 'rateLimits' | 'trustProxy' | 'timeouts'> {
  const perMinute = (name: string, fallback: number): number => {
    const value = read.text(name);
    if (value === undefined) return fallback;
    if (!/^\d{1,7}$/.test(value) || Number(value) < 1)
      read.problems.push(`${name} must be a whole number of requests per minute (got ${JSON.stringify(value)})`);
    return Number(value);
  };
  const staleBound = read.text('ENTITLE_STALE_BOUND_SECONDS') ?? '60';
  if (!/^\d{1,6}$/.test(staleBound))
    read.problems.push(
      `ENTITLE_STALE_BOUND_SECONDS must be a whole number of seconds (got ${JSON.stringify(staleBound)})`,
    );
  const rateLimits: RateLimitConfig = {
    admin: perMinute('ENTITLE_RATE_LIMIT_ADMIN', 600),
    oauth: perMinute('ENTITLE_RATE_LIMIT_OAUTH', 60),
    calendar: perMinute('ENTITLE_RATE_LIMIT_CALENDAR', 120),
    decisions: perMinute('ENTITLE_RATE_LIMIT_DECISIONS', 60_000),
    usage: perMinute('ENTITLE_RATE_LIMIT_USAGE', 600),
    authFailures: perMinute('ENTITLE_RATE_LIMIT_AUTH_FAILURES', 30),
  };
  const trustProxy = read.list('ENTITLE_TRUST_PROXY');
  for (const entry of trustProxy)
    if (!isAddressOrCidr(entry))
      read.problems.push(
        `ENTITLE_TRUST_PROXY must list proxy addresses or CIDRs, comma-separated (got ${JSON.stringify(entry)})`,
      );
  const milliseconds = (name: string, fallback: number): number => {
    const value = read.text(name) ?? String(fallback);
    if (!/^\d{1,7}$/.test(value) || Number(value) < 100)
      read.problems.push(`${name} must be a whole number of milliseconds, at least 100 (got ${JSON.stringify(value)})`);
    return Number(value);
  };
  const timeouts = {
    requestMs: milliseconds('ENTITLE_REQUEST_TIMEOUT_MS', 30_000),
    idleMs: milliseconds('ENTITLE_IDLE_TIMEOUT_MS', 10_000),
  };
  return { staleBoundMs: Number(staleBound) * 1000, rateLimits, trustProxy, timeouts };
}

/** What browsers meet: the CORS origins and the console's sessions. */
function browserSection(read: EnvReader): Pick<Config, 'corsOrigins' | 'sessionSecret' | 'consoleSessionMs'> {
  const corsOrigins = read.list('ENTITLE_CORS_ORIGINS');
  for (const origin of corsOrigins) {
    // An origin exactly as browsers send it: no path, no trailing slash, no wildcard.
    if (!/^https?:\/\/[^/\s*]+$/.test(origin) || new URL(origin).origin !== origin)
      read.problems.push(
        `ENTITLE_CORS_ORIGINS entries must be origins such as https://app.example.com (got ${JSON.stringify(origin)})`,
      );
  }
  const sessionSecret = read.text('ENTITLE_SESSION_SECRET');
  if (sessionSecret !== undefined && sessionSecret.length < 32)
    read.problems.push('ENTITLE_SESSION_SECRET must be at least 32 characters');
  const consoleSessionMinutes = read.whole('ENTITLE_CONSOLE_SESSION_MINUTES', 480, 1, 10_080);
  return { corsOrigins, sessionSecret, consoleSessionMs: consoleSessionMinutes * 60_000 };
}

/** How many tenants decisions keep in memory (~0.8 KB each); the rest are read from the store on first use. */
function directorySection(read: EnvReader): Config['directory'] {
  return { maxTenants: read.whole('ENTITLE_DIRECTORY_MAX_TENANTS', 50_000, 1, 100_000_000) };
}

/** The OFREP event streams' caps, heartbeat and credential check, and the public URL their links use. */
function streamsSection(read: EnvReader): Config['streams'] {
  return {
    max: read.whole('ENTITLE_STREAMS_MAX', 10_000, 0, 1_000_000),
    perTenant: read.whole('ENTITLE_STREAMS_PER_TENANT', 1_000, 0, 1_000_000),
    perUser: read.whole('ENTITLE_STREAMS_PER_USER', 20, 0, 1_000_000),
    checkMs: read.whole('ENTITLE_STREAM_CHECK_MS', 2_000, 10, 60_000),
    heartbeatMs: read.whole('ENTITLE_STREAM_HEARTBEAT_MS', 15_000, 10, 3_600_000),
    // Behind a proxy the request's own scheme and host are the proxy's view: links use this instead.
    publicUrl: read.text('ENTITLE_PUBLIC_URL') === undefined ? undefined : read.url('ENTITLE_PUBLIC_URL', ''),
  };
}

/** Which reads the audit log records, how they are batched, and how long rows stay before archiving. */
function auditSection(read: EnvReader, cwd: string): Pick<Config, 'auditReads' | 'auditRetention'> {
  const auditReads = read.text('ENTITLE_AUDIT_READS') ?? 'all';
  if (auditReads !== 'all' && auditReads !== 'denials' && auditReads !== 'off')
    read.problems.push(`ENTITLE_AUDIT_READS must be all, denials or off (got ${JSON.stringify(auditReads)})`);
  const auditWindow = read.text('ENTITLE_AUDIT_READS_WINDOW_MS') ?? '50';
  if (!/^\d{1,5}$/.test(auditWindow))
    read.problems.push(
      `ENTITLE_AUDIT_READS_WINDOW_MS must be a whole number of milliseconds up to 99999 (got ${JSON.stringify(auditWindow)})`,
    );
  const auditBatch = read.text('ENTITLE_AUDIT_READS_MAX_BATCH') ?? '500';
  if (!/^\d{1,5}$/.test(auditBatch) || Number(auditBatch) < 1)
    read.problems.push(
      `ENTITLE_AUDIT_READS_MAX_BATCH must be a whole number of rows, 1-99999 (got ${JSON.stringify(auditBatch)})`,
    );

  const retention = read.text('ENTITLE_AUDIT_RETENTION');
  const retentionMs = retention === undefined ? undefined : parseDurationMs(retention);
  if (retention !== undefined && (retentionMs === undefined || retentionMs < 1000))
    read.problems.push(
      `ENTITLE_AUDIT_RETENTION must be a duration such as 90d, 12h or 30m (got ${JSON.stringify(retention)})`,
    );
  const archiveDir = read.text('ENTITLE_AUDIT_ARCHIVE_DIR');
  if (retention !== undefined && archiveDir === undefined)
    read.problems.push(
      'ENTITLE_AUDIT_ARCHIVE_DIR must be set with ENTITLE_AUDIT_RETENTION: the directory archived rows are written to',
    );
  return {
    auditRetention:
      retentionMs !== undefined && archiveDir !== undefined
        ? { retentionMs, directory: resolve(cwd, archiveDir) }
        : undefined,
    auditReads: {
      mode: auditReads as Config['auditReads']['mode'],
      windowMs: Number(auditWindow),
      maxBatch: Number(auditBatch),
    },
  };
}

/** "10.0.0.1", "::1" or "10.0.0.0/8": what fastify's trustProxy (proxy-addr) accepts. */
function isAddressOrCidr(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** A provider is configured when its client id, secret and redirect URI are all set. */
function providerConfig<T extends object>(
  prefix: 'GOOGLE' | 'MICROSOFT',
  text: (name: string) => string | undefined,
  problems: string[],
  urls: () => T,
): (T & { clientId: string; clientSecret: string; redirectUri: string }) | undefined {
  const names = [`${prefix}_CLIENT_ID`, `${prefix}_CLIENT_SECRET`, `${prefix}_REDIRECT_URI`];
  const values = names.map(text);
  const set = values.filter((value) => value !== undefined).length;
  const extra = urls();
  if (set === 0) return undefined;
  if (set < names.length) {
    problems.push(
      `${names.filter((_, i) => values[i] === undefined).join(', ')} must be set too (set all of ${names.join(', ')} or none)`,
    );
    return undefined;
  }
  const [clientId, clientSecret, redirectUri] = values as [string, string, string];
  try {
    new URL(redirectUri);
  } catch {
    problems.push(`${prefix}_REDIRECT_URI must be a URL`);
  }
  return { clientId, clientSecret, redirectUri, ...extra };
}

/** "kid1:base64,kid2:base64" → keys; the active one is ENTITLE_ENCRYPTION_KEY_ID or the first. */
function parseEncryptionKeys(
  value: string | undefined,
  activeKeyId: string | undefined,
  problems: string[],
): EncryptionConfig {
  const keys = new Map<string, Buffer>();
  for (const entry of (value ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const separator = entry.indexOf(':');
    const id = separator > 0 ? entry.slice(0, separator) : '';
    const key = Buffer.from(separator > 0 ? entry.slice(separator + 1) : '', 'base64');
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id) || key.length !== 32) {
      problems.push(
        'ENTITLE_ENCRYPTION_KEYS entries must be "keyid:<32 bytes in base64>" with a key id of letters, digits, "_" or "-"',
      );
      continue;
    }
    keys.set(id, key);
  }
  const active = activeKeyId ?? keys.keys().next().value;
  if (activeKeyId !== undefined && !keys.has(activeKeyId))
    problems.push(`ENTITLE_ENCRYPTION_KEY_ID "${activeKeyId}" is not one of ENTITLE_ENCRYPTION_KEYS`);
  return { keys, activeKeyId: active };
}

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000 };

function parseBillingConfig(text: (name: string) => string | undefined, problems: string[]): BillingConfig | undefined {
  const secrets = (text('STRIPE_WEBHOOK_SECRET') ?? '')
    .split(',')
    .map((secret) => secret.trim())
    .filter((secret) => secret.length > 0);
  if (secrets.some((secret) => !secret.startsWith('whsec_')))
    problems.push('STRIPE_WEBHOOK_SECRET must be one or more whsec_… secrets, comma-separated');
  const apiKey = text('STRIPE_API_KEY');
  if (apiKey !== undefined && !/^(sk|rk)_/.test(apiKey))
    problems.push('STRIPE_API_KEY must be a secret or restricted key (sk_… or rk_…)');
  const rawUrl = text('STRIPE_API_URL');
  let apiUrl: URL | undefined;
  if (rawUrl !== undefined) {
    try {
      apiUrl = new URL(rawUrl);
      if (apiUrl.protocol !== 'http:' && apiUrl.protocol !== 'https:') throw new Error('protocol');
    } catch {
      problems.push(`STRIPE_API_URL must be an http(s) URL (got ${JSON.stringify(rawUrl)})`);
    }
  }
  const interval = text('ENTITLE_BILLING_RECONCILE_INTERVAL');
  let reconcileIntervalMs: number | undefined;
  if (interval !== undefined) {
    const match = /^(\d{1,6})(s|m|h)$/.exec(interval);
    reconcileIntervalMs = match ? Number(match[1]) * (DURATION_UNITS[match[2] as string] ?? 0) : undefined;
    if (reconcileIntervalMs === undefined || reconcileIntervalMs < 10_000)
      problems.push(
        `ENTITLE_BILLING_RECONCILE_INTERVAL must be a duration of at least 10s, like 90s, 15m or 1h (got ${JSON.stringify(interval)})`,
      );
    if (apiKey === undefined)
      problems.push('ENTITLE_BILLING_RECONCILE_INTERVAL needs STRIPE_API_KEY to read subscriptions');
  }
  if (secrets.length === 0 && apiKey === undefined) return undefined;
  return { stripe: { webhookSecrets: secrets, apiKey, apiUrl }, reconcileIntervalMs };
}

/** ENTITLE_WEBHOOKS_ATTEMPT_TIMEOUT's default. */
const ATTEMPT_TIMEOUT_DEFAULT_MS = 10_000;
const WEBHOOK_DELAY_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, ...DURATION_UNITS_MS };
/** The default retry schedule: about three days in all. */
export const DEFAULT_WEBHOOK_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,10h';

function webhooksSection(read: EnvReader): WebhooksConfig {
  const { text, problems } = read;
  const schedule = text('ENTITLE_WEBHOOKS_RETRY_SCHEDULE') ?? DEFAULT_WEBHOOK_RETRY_SCHEDULE;
  const retryScheduleMs = schedule.split(',').map((part) => {
    const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(part.trim());
    return match ? Number(match[1]) * (WEBHOOK_DELAY_UNITS_MS[match[2] as string] as number) : NaN;
  });
  if (retryScheduleMs.some(Number.isNaN) || retryScheduleMs.length > 20)
    problems.push(
      `ENTITLE_WEBHOOKS_RETRY_SCHEDULE must be up to 20 delays such as ${DEFAULT_WEBHOOK_RETRY_SCHEDULE} (got ${JSON.stringify(schedule)})`,
    );
  const allowPrivate = text('ENTITLE_WEBHOOKS_ALLOW_PRIVATE') ?? 'false';
  if (allowPrivate !== 'true' && allowPrivate !== 'false')
    problems.push(`ENTITLE_WEBHOOKS_ALLOW_PRIVATE must be true or false (got ${JSON.stringify(allowPrivate)})`);
  const attemptTimeout = text('ENTITLE_WEBHOOKS_ATTEMPT_TIMEOUT') ?? '10s';
  const attemptTimeoutMs = parseDurationMs(attemptTimeout);
  if (attemptTimeoutMs === undefined || attemptTimeoutMs < 1000 || attemptTimeoutMs > 60_000)
    problems.push(
      `ENTITLE_WEBHOOKS_ATTEMPT_TIMEOUT must be a duration from 1s to 60s, like 10s (got ${JSON.stringify(attemptTimeout)})`,
    );
  const overlap = text('ENTITLE_WEBHOOKS_SECRET_OVERLAP') ?? '24h';
  const secretOverlapMs = parseDurationMs(overlap);
  if (secretOverlapMs === undefined)
    problems.push(
      `ENTITLE_WEBHOOKS_SECRET_OVERLAP must be a duration such as 24h or 30m (got ${JSON.stringify(overlap)})`,
    );
  return {
    retryScheduleMs,
    allowPrivate: allowPrivate === 'true',
    disableAfter: read.whole('ENTITLE_WEBHOOKS_DISABLE_AFTER', 5, 1, 1000),
    attemptTimeoutMs: attemptTimeoutMs ?? ATTEMPT_TIMEOUT_DEFAULT_MS,
    maxEndpointsPerPrincipal: read.whole('ENTITLE_WEBHOOKS_MAX_ENDPOINTS', 20, 1, 1000),
    secretOverlapMs: secretOverlapMs ?? 0,
  };
}
