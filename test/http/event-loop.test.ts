// No request stalls the others: a 2 MB policy validated over the admin API, or hot-reloaded from
// disk, parses in a worker thread while /healthz keeps answering within 100 ms. (The issue's
// acceptance is a time bound; it is generous next to the seconds the parse takes here.)

import { once } from 'node:events';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, NO_RATE_LIMITS, type TestApp } from '../support/app.js';
import { STARTER_POLICY_DIR } from '../support/policy.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** A valid policy file of at most `bytes` (and nearly that): many boolean features. */
function bigPolicy(bytes: number): string {
  let text = 'features:\n';
  for (let i = 0; i < 1_000_000; i++) {
    const feature = [
      `  generated_${i}:`,
      `    name: Generated ${i}`,
      `    description: A generated feature, number ${i}, to make the file large`,
      '    type: boolean',
      '    default: false',
      `    upgradeMessage: Upgrade for generated feature ${i}.`,
      '',
    ].join('\n');
    if (text.length + feature.length > bytes) break;
    text += feature;
  }
  return text;
}

/** /healthz a few times in a row: the slowest answer's milliseconds. */
async function slowestHealthz(app: TestApp['app'], probes = 5): Promise<number> {
  let slowest = 0;
  for (let i = 0; i < probes; i++) {
    const start = performance.now();
    const response = await app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    slowest = Math.max(slowest, performance.now() - start);
  }
  return slowest;
}

describe('heavy policy work runs off the event loop', () => {
  it('answers /healthz within 100 ms while a 2 MB policy is validated', { timeout: 180_000 }, async () => {
    t = await buildTestApp({ env: NO_RATE_LIMITS });
    const admin = t.auth(await t.token('ops', 'olivia', { role: 'admin' }));
    // 2 MB: the largest body the route takes.
    const yaml = bigPolicy(2 * 1024 * 1024);
    expect(yaml.length).toBeGreaterThan(2 * 1024 * 1024 - 200);
    const started = once(t.app.entitle.policyReader, 'started');
    let finished = false;
    const validating = t.app
      .inject({
        method: 'POST',
        url: '/api/admin/policy/validate?file=generated.yaml',
        headers: { ...admin, 'content-type': 'application/yaml' },
        payload: yaml,
      })
      .finally(() => (finished = true));
    // Should the request be refused before it reaches a worker, its answer ends the wait.
    await Promise.race([started, validating]);
    const slowest = await slowestHealthz(t.app);
    // The probes ran during the validation, not after it.
    expect(finished).toBe(false);
    expect(slowest).toBeLessThan(100);
    const response = await validating;
    expect(response.statusCode, response.body.slice(0, 300)).toBe(200);
    expect(response.json()).toMatchObject({
      valid: true,
      impact: { addedFeatures: expect.arrayContaining(['generated_0']) },
    });
  });

  it('answers /healthz within 100 ms while a 2 MB policy file is hot-reloaded', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entitle-reload-'));
    cpSync(STARTER_POLICY_DIR, dir, { recursive: true });
    t = await buildTestApp({ env: { ENTITLE_POLICIES: dir } });
    const started = once(t.app.entitle.policyReader, 'started');
    writeFileSync(join(dir, 'generated.yaml'), bigPolicy(2 * 1024 * 1024));
    let finished = false;
    const reloading = t.app.entitle.policy.reload().finally(() => (finished = true));
    await started;
    const slowest = await slowestHealthz(t.app);
    expect(finished).toBe(false);
    expect(slowest).toBeLessThan(100);
    await reloading;
    expect(t.app.entitle.policy.snapshot.features.has('generated_0')).toBe(true);
  });

  it('refuses more validations at once than it can hold with 503 rather than queueing without end', async () => {
    const { PolicyReader } = await import('../../src/policy/policy-reader.js');
    const reader = new PolicyReader({ maxConcurrent: 1, maxQueued: 1 });
    const text = [{ file: 'a.yaml', text: bigPolicy(200 * 1024) }];
    const first = reader.readTexts(text);
    const second = reader.readTexts(text);
    await expect(reader.readTexts(text)).rejects.toMatchObject({ code: 'ENT_ERR_POLICY_BUSY', statusCode: 503 });
    expect((await first).ok).toBe(true);
    expect((await second).ok).toBe(true);
    await reader.close();
  });

  it('stops a read that takes too long with 422 naming the limit', async () => {
    const { PolicyReader } = await import('../../src/policy/policy-reader.js');
    const reader = new PolicyReader({ timeoutMs: 1 });
    await expect(reader.readTexts([{ file: 'a.yaml', text: bigPolicy(200 * 1024) }])).rejects.toMatchObject({
      code: 'ENT_ERR_POLICY_TOO_LARGE',
      statusCode: 422,
      message: 'The policy is too large to validate: it took longer than 0 s',
    });
    await reader.close();
  });
});
