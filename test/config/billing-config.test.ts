import { describe, expect, it } from 'vitest';
import { type ConfigError, loadConfig } from '../../src/config.js';

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env, '/srv/entitle');
    return [];
  } catch (error) {
    return (error as ConfigError).problems;
  }
}

describe('billing configuration', () => {
  it('is off without Stripe settings', () => {
    expect(loadConfig({}, '/srv/entitle').billing).toBeUndefined();
  });

  it('reads several webhook secrets, the API key and URL, and the reconcile interval', () => {
    const config = loadConfig(
      { STRIPE_WEBHOOK_SECRET: 'whsec_new, whsec_old', STRIPE_API_KEY: 'rk_test_1', STRIPE_API_URL: 'http://127.0.0.1:12111', ENTITLE_BILLING_RECONCILE_INTERVAL: '15m' },
      '/srv/entitle',
    );
    expect(config.billing).toEqual({
      stripe: { webhookSecrets: ['whsec_new', 'whsec_old'], apiKey: 'rk_test_1', apiUrl: new URL('http://127.0.0.1:12111') },
      reconcileIntervalMs: 900_000,
    });
  });

  it('names every bad billing setting', () => {
    expect(problems({ STRIPE_WEBHOOK_SECRET: 'secret', STRIPE_API_KEY: 'pk_live_1', STRIPE_API_URL: 'ftp://x', ENTITLE_BILLING_RECONCILE_INTERVAL: '5s' })).toEqual([
      'STRIPE_WEBHOOK_SECRET must be one or more whsec_… secrets, comma-separated',
      'STRIPE_API_KEY must be a secret or restricted key (sk_… or rk_…)',
      'STRIPE_API_URL must be an http(s) URL (got "ftp://x")',
      'ENTITLE_BILLING_RECONCILE_INTERVAL must be a duration of at least 10s, like 90s, 15m or 1h (got "5s")',
    ]);
    expect(problems({ STRIPE_WEBHOOK_SECRET: 'whsec_1', ENTITLE_BILLING_RECONCILE_INTERVAL: '1h' })).toEqual(['ENTITLE_BILLING_RECONCILE_INTERVAL needs STRIPE_API_KEY to read subscriptions']);
  });
});
