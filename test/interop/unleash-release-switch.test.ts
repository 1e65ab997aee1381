// rollout.unleash: a feature is on only when the tenant is entitled and the named Unleash toggle
// is on for it. The real unleash-client against a local fake Unleash server.

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { reportIgnoredRollouts } from '../../src/interop/unleash-release-switch.js';
import { openServices, type EntitleServices } from '../../src/services.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A fake Unleash server: one toggle, on for the tenants in `enabledFor`. */
function startFakeUnleash() {
  const state = { enabledFor: ['acme'], requests: 0, authorization: [] as (string | undefined)[] };
  const server: Server = createServer((request, response) => {
    state.requests++;
    state.authorization.push(request.headers.authorization);
    if (request.method === 'GET' && request.url?.startsWith('/api/client/features')) {
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          version: 2,
          features: [
            {
              name: 'webhooks-v2',
              enabled: true,
              type: 'release',
              strategies: [{ name: 'default', parameters: {}, constraints: [{ contextName: 'tenantId', operator: 'IN', values: state.enabledFor }] }],
            },
          ],
        }),
      );
      return;
    }
    response.statusCode = request.method === 'POST' ? 202 : 404;
    response.end();
  });
  return { server, state };
}

describe('rollout.unleash', () => {
  let services: EntitleServices;
  const fake = startFakeUnleash();
  let policyDir: string;

  beforeAll(async () => {
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    const { port } = fake.server.address() as AddressInfo;
    policyDir = mkdtempSync(join(tmpdir(), 'entitle-rollout-'));
    cpSync(STARTER_POLICY_DIR, policyDir, { recursive: true });
    const features = join(policyDir, 'features.yaml');
    writeFileSync(
      features,
      readFileSync(features, 'utf8').replace(
        '    upgradeMessage: Webhooks are available on the Business plan and above.\n',
        '    upgradeMessage: Webhooks are available on the Business plan and above.\n    rollout:\n      unleash: webhooks-v2\n',
      ),
    );
    const config = loadConfig({
      ENTITLE_DB: ':memory:',
      ENTITLE_POLICIES: policyDir,
      UNLEASH_URL: `http://127.0.0.1:${port}/api/`,
      UNLEASH_API_TOKEN: 'default:development.test-token',
    });
    services = await openServices({ config, logger: quiet });
    for (const [id, plan] of [['acme', 'business'], ['globex', 'business'], ['tiny', 'free']] as const) {
      await services.operations.createTenant({ id, plan }, { actor: 'test' });
    }
  });
  afterAll(async () => {
    await services?.close();
    await new Promise((resolve) => fake.server.close(resolve));
  });

  it('is on only for entitled tenants whose toggle is on', async () => {
    const check = (tenantId: string) => services.client.getBooleanDetails('can_use_webhooks', false, { tenantId, targetingKey: 'u1' });
    expect((await check('acme')).value).toBe(true);
    const held = await check('globex');
    expect(held).toMatchObject({ value: false, variant: 'not-released', reason: 'DISABLED' });
    expect(held.flagMetadata).toMatchObject({ cause: 'NOT_RELEASED', releaseToggle: 'webhooks-v2', entitledValue: true });
    // Not entitled stays not entitled, whatever the toggle says.
    expect(await check('tiny')).toMatchObject({ value: false, flagMetadata: { cause: 'NOT_IN_PLAN' } });
    // Features without rollout are untouched.
    expect((await services.client.getBooleanDetails('can_use_round_robin', false, { tenantId: 'globex' })).value).toBe(true);
    expect(fake.state.authorization[0]).toBe('default:development.test-token');
  });

  it('decisions read the local cache: no request to Unleash per decision', async () => {
    const before = fake.state.requests;
    for (let i = 0; i < 200; i++) await services.client.getBooleanValue('can_use_webhooks', false, { tenantId: 'acme' });
    expect(fake.state.requests - before).toBeLessThan(3);
  });

  it('without Unleash configured, the references are reported and ignored', async () => {
    const warnings: object[] = [];
    const logger = { ...quiet, warn: (details: object) => warnings.push(details) };
    const config = loadConfig({ ENTITLE_DB: ':memory:', ENTITLE_POLICIES: policyDir });
    const plain = await openServices({ config, logger });
    try {
      await plain.operations.createTenant({ id: 'globex', plan: 'business' }, { actor: 'test' });
      expect(await plain.client.getBooleanValue('can_use_webhooks', false, { tenantId: 'globex' })).toBe(true);
      expect(warnings).toContainEqual({ features: ['can_use_webhooks → webhooks-v2'] });
      reportIgnoredRollouts(plain.policy.snapshot, logger);
      expect(warnings).toHaveLength(2);
    } finally {
      await plain.close();
    }
  });
});
