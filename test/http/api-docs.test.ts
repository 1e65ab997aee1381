// Swagger UI at /docs, loaded on the first request and answered through the app: its pages and
// assets with their own headers, the app's headers added, a HEAD and a redirect without a body.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

describe('/docs', () => {
  it('serves the UI and its assets with their content types, and the app adds its own headers', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('swagger');
    expect(page.headers['x-request-id']).toBeTruthy();
    const bundle = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/javascript/);
    expect(bundle.rawPayload.length).toBeGreaterThan(100_000);
    expect(bundle.headers['x-frame-options']).toBe('DENY');
  });

  it('answers HEAD without a body, a redirect without a made-up content type, and 404 for what it lacks', async () => {
    const head = await t.app.inject({ method: 'HEAD', url: '/docs/static/swagger-ui-bundle.js' });
    expect(head.statusCode).toBe(200);
    expect(head.rawPayload.length).toBe(0);
    const redirect = await t.app.inject({ method: 'GET', url: '/docs/static/index.html' });
    expect(redirect.statusCode).toBe(302);
    expect(redirect.headers.location).toBeTruthy();
    expect(redirect.headers['content-type']).toBeUndefined();
    expect((await t.app.inject({ method: 'GET', url: '/docs/static/nothing-here.js' })).statusCode).toBe(404);
  });

  it('serves the document the app was built with, as JSON and YAML', async () => {
    const json = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: object };
    expect(Object.keys(json.paths)).toContain('/api/entitlements/');
    const yaml = await t.app.inject({ method: 'GET', url: '/docs/yaml' });
    expect(yaml.statusCode).toBe(200);
    expect(yaml.body).toContain('/api/entitlements/');
  });
});
