// CORS: pages on allow-listed origins may call the app-facing routes (OFREP with its stream,
// /api/entitlements); the admin API and the console never answer another origin; with no
// allow-list (the default) nothing changes.

import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../support/app.js';

const APP = 'http://app.example.test:8080';
const preflight = (url: string, origin: string, method = 'POST', headers = 'authorization,content-type') => ({
  method: 'OPTIONS' as const,
  url,
  headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
});

describe('CORS', () => {
  it('answers a preflight for OFREP and the entitlements API from an allow-listed origin, exposing the ETag', async () => {
    const t = await buildTestApp({ env: { ENTITLE_CORS_ORIGINS: `${APP}, https://other.example.test` } });
    try {
      for (const url of ['/ofrep/v1/evaluate/flags', '/ofrep/v1/evaluate/flags/can_use_sso', '/api/entitlements/']) {
        const response = await t.app.inject(preflight(url, APP, url.startsWith('/api') ? 'GET' : 'POST'));
        expect(response.statusCode, url).toBe(204);
        expect(response.headers, url).toMatchObject({
          'access-control-allow-origin': APP,
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'Authorization, Content-Type, If-None-Match, Last-Event-ID',
          'access-control-max-age': '600',
        });
      }
      const token = await t.token('acme');
      const bulk = await t.app.inject({
        method: 'POST',
        url: '/ofrep/v1/evaluate/flags',
        headers: { ...t.auth(token), origin: APP },
        payload: {},
      });
      expect(bulk.statusCode).toBe(200);
      expect(bulk.headers['access-control-allow-origin']).toBe(APP);
      expect(bulk.headers['access-control-expose-headers']).toBe('ETag, x-request-id, Retry-After');
      expect(bulk.headers['access-control-allow-credentials']).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('sends no CORS header to an origin off the list, and its preflight stays a 404 as the docs say', async () => {
    const t = await buildTestApp({ env: { ENTITLE_CORS_ORIGINS: APP } });
    try {
      const response = await t.app.inject(preflight('/ofrep/v1/evaluate/flags', 'http://evil.example.test'));
      expect(response.statusCode).toBe(404);
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
      const bulk = await t.app.inject({
        method: 'POST',
        url: '/ofrep/v1/evaluate/flags',
        headers: { ...t.auth(await t.token('acme')), origin: 'http://evil.example.test' },
        payload: {},
      });
      expect(bulk.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('never opens the admin API or the console to another origin, allow-listed or not', async () => {
    const t = await buildTestApp({ env: { ENTITLE_CORS_ORIGINS: APP } });
    try {
      for (const url of [
        '/api/admin/tenants',
        '/api/admin/tenants/acme/overrides/can_use_sso',
        '/console/session',
        '/console',
      ]) {
        const response = await t.app.inject(preflight(url, APP, 'PUT'));
        expect(response.statusCode, url).toBe(404);
        expect(response.headers['access-control-allow-origin'], url).toBeUndefined();
      }
      const admin = await t.app.inject({
        method: 'GET',
        url: '/api/admin/tenants',
        headers: { ...t.auth(await t.token('ops', 'olga', { role: 'admin' })), origin: APP },
      });
      expect(admin.statusCode).toBe(200);
      expect(admin.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('is off by default: an OFREP preflight stays a 404', async () => {
    const t = await buildTestApp();
    try {
      const response = await t.app.inject(preflight('/ofrep/v1/evaluate/flags', APP));
      expect(response.statusCode).toBe(404);
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
