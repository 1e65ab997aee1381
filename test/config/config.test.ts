import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type ConfigError, loadConfig } from '../../src/config.js';

const key = randomBytes(32).toString('base64');

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env, '/srv/entitle');
    return [];
  } catch (error) {
    return (error as ConfigError).problems;
  }
}

describe('configuration', () => {
  it('has development defaults: SQLite under data/, policies/, port 3000 on 127.0.0.1, demo seeding', () => {
    const config = loadConfig({}, '/srv/entitle');
    expect(config).toMatchObject({
      databasePath: '/srv/entitle/data/entitle.db',
      policyDirectory: '/srv/entitle/policies',
      port: 3000,
      host: '127.0.0.1',
      production: false,
      seedDemo: true,
      google: undefined,
      microsoft: undefined,
      jwt: undefined,
    });
  });

  it('configures a provider only when its id, secret and redirect URI are all set, with overridable URLs', () => {
    const config = loadConfig({
      GOOGLE_CLIENT_ID: 'id',
      GOOGLE_CLIENT_SECRET: 'secret',
      GOOGLE_REDIRECT_URI: 'http://localhost:5173/oauth/google',
      GOOGLE_OAUTH_TOKEN_URL: 'http://127.0.0.1:9999/token/',
    });
    expect(config.google).toEqual({
      clientId: 'id',
      clientSecret: 'secret',
      redirectUri: 'http://localhost:5173/oauth/google',
      authUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
      tokenUrl: 'http://127.0.0.1:9999/token',
      revokeUrl: 'https://oauth2.googleapis.com/revoke',
      apiUrl: 'https://www.googleapis.com',
    });
    expect(problems({ MICROSOFT_CLIENT_ID: 'id' })).toEqual([
      'MICROSOFT_CLIENT_SECRET, MICROSOFT_REDIRECT_URI must be set too (set all of MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET, MICROSOFT_REDIRECT_URI or none)',
    ]);
  });

  it('stops a production start without encryption keys, and names every problem at once', () => {
    expect(problems({ NODE_ENV: 'production', PORT: 'eighty', GOOGLE_API_URL: 'ftp://x' })).toEqual([
      'PORT must be a port number 0-65535 (got "eighty")',
      'ENTITLE_ENCRYPTION_KEYS is required in production: "keyid:<32 bytes base64>" (entitle keys generate prints one)',
      'GOOGLE_API_URL must be an http(s) URL (got "ftp://x")',
    ]);
    expect(loadConfig({ NODE_ENV: 'production', ENTITLE_ENCRYPTION_KEYS: `k1:${key}` }).seedDemo).toBe(false);
  });

  it('reads several encryption keys with one active', () => {
    const config = loadConfig({ ENTITLE_ENCRYPTION_KEYS: `old:${key}, new:${key}`, ENTITLE_ENCRYPTION_KEY_ID: 'new' });
    expect([...config.encryption.keys.keys()]).toEqual(['old', 'new']);
    expect(config.encryption.activeKeyId).toBe('new');
    expect(problems({ ENTITLE_ENCRYPTION_KEYS: `k1:${key}`, ENTITLE_ENCRYPTION_KEY_ID: 'k2' })).toEqual([
      'ENTITLE_ENCRYPTION_KEY_ID "k2" is not one of ENTITLE_ENCRYPTION_KEYS',
    ]);
    expect(problems({ ENTITLE_ENCRYPTION_KEYS: 'k1:short' })).toHaveLength(1);
  });

  it('requires a long JWT secret', () => {
    expect(problems({ ENTITLE_JWT_SECRET: 'short' })).toEqual(['ENTITLE_JWT_SECRET must be at least 32 characters']);
  });

  it('allows no other origin by default, and reads an allow-list of exact origins', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ ENTITLE_CORS_ORIGINS: 'https://app.example.com, http://127.0.0.1:5173' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://127.0.0.1:5173',
    ]);
    expect(problems({ ENTITLE_CORS_ORIGINS: 'https://app.example.com/, *, app.example.com' })).toEqual([
      'ENTITLE_CORS_ORIGINS entries must be origins such as https://app.example.com (got "https://app.example.com/")',
      'ENTITLE_CORS_ORIGINS entries must be origins such as https://app.example.com (got "*")',
      'ENTITLE_CORS_ORIGINS entries must be origins such as https://app.example.com (got "app.example.com")',
    ]);
  });

  it('has console session and event stream defaults, and checks their settings', () => {
    expect(loadConfig({})).toMatchObject({
      sessionSecret: undefined,
      consoleSessionMs: 8 * 3_600_000,
      streams: { max: 10_000, perTenant: 1_000, heartbeatMs: 15_000, publicUrl: undefined },
    });
    expect(loadConfig({ ENTITLE_PUBLIC_URL: 'https://flags.example.com/' }).streams.publicUrl).toBe(
      'https://flags.example.com',
    );
    expect(problems({ ENTITLE_SESSION_SECRET: 'short' })).toEqual([
      'ENTITLE_SESSION_SECRET must be at least 32 characters',
    ]);
    expect(problems({ ENTITLE_STREAMS_PER_TENANT: 'many', ENTITLE_CONSOLE_SESSION_MINUTES: '0' })).toEqual([
      'ENTITLE_CONSOLE_SESSION_MINUTES must be a whole number from 1 to 10080 (got "0")',
      'ENTITLE_STREAMS_PER_TENANT must be a whole number from 0 to 1000000 (got "many")',
    ]);
  });
});

describe('webhooks configuration', () => {
  it("waits 10 s for an attempt's answer by default, and reads and checks ENTITLE_WEBHOOKS_ATTEMPT_TIMEOUT", () => {
    expect(loadConfig({}).webhooks.attemptTimeoutMs).toBe(10_000);
    expect(loadConfig({ ENTITLE_WEBHOOKS_ATTEMPT_TIMEOUT: '3s' }).webhooks.attemptTimeoutMs).toBe(3_000);
    expect(problems({ ENTITLE_WEBHOOKS_ATTEMPT_TIMEOUT: '0s' })).toEqual([
      'ENTITLE_WEBHOOKS_ATTEMPT_TIMEOUT must be a duration from 1s to 60s, like 10s (got "0s")',
    ]);
    expect(problems({ ENTITLE_WEBHOOKS_ATTEMPT_TIMEOUT: '2m' })).toEqual([
      'ENTITLE_WEBHOOKS_ATTEMPT_TIMEOUT must be a duration from 1s to 60s, like 10s (got "2m")',
    ]);
  });
});

describe('billing configuration', () => {
  it('is off without Stripe settings', () => {
    expect(loadConfig({}, '/srv/entitle').billing).toBeUndefined();
  });

  it('reads several webhook secrets, the API key and URL, and the reconcile interval', () => {
    const config = loadConfig(
      {
        STRIPE_WEBHOOK_SECRET: 'whsec_new, whsec_old',
        STRIPE_API_KEY: 'rk_test_1',
        STRIPE_API_URL: 'http://127.0.0.1:12111',
        ENTITLE_BILLING_RECONCILE_INTERVAL: '15m',
      },
      '/srv/entitle',
    );
    expect(config.billing).toEqual({
      stripe: {
        webhookSecrets: ['whsec_new', 'whsec_old'],
        apiKey: 'rk_test_1',
        apiUrl: new URL('http://127.0.0.1:12111'),
      },
      reconcileIntervalMs: 900_000,
    });
  });

  it('names every bad billing setting', () => {
    expect(
      problems({
        STRIPE_WEBHOOK_SECRET: 'secret',
        STRIPE_API_KEY: 'pk_live_1',
        STRIPE_API_URL: 'ftp://x',
        ENTITLE_BILLING_RECONCILE_INTERVAL: '5s',
      }),
    ).toEqual([
      'STRIPE_WEBHOOK_SECRET must be one or more whsec_… secrets, comma-separated',
      'STRIPE_API_KEY must be a secret or restricted key (sk_… or rk_…)',
      'STRIPE_API_URL must be an http(s) URL (got "ftp://x")',
      'ENTITLE_BILLING_RECONCILE_INTERVAL must be a duration of at least 10s, like 90s, 15m or 1h (got "5s")',
    ]);
    expect(problems({ STRIPE_WEBHOOK_SECRET: 'whsec_1', ENTITLE_BILLING_RECONCILE_INTERVAL: '1h' })).toEqual([
      'ENTITLE_BILLING_RECONCILE_INTERVAL needs STRIPE_API_KEY to read subscriptions',
    ]);
  });
});
