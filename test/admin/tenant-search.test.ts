// Finding tenants: by part of the id or the name (any case), by plan, a page at a time.

import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../support/app.js';

describe('tenant search', () => {
  it('matches part of the id or the name in any case, filters by plan, and pages with the cursor', async () => {
    const t = await buildTestApp();
    try {
      const admin = t.auth(await t.token('ops', 'olga', { role: 'admin' }));
      const create = (id: string, name: string, plan: string) =>
        t.app.entitle.operations.createTenant({ id, name, plan }, { actor: 'test:setup' });
      await create('acme', 'Acme Corporation', 'free');
      await create('acme-eu', 'Acme Europe', 'pro');
      await create('globex', 'Globex Corp', 'pro');
      await create('initech', 'Initech', 'free');
      const ids = async (query: string) => {
        const response = await t.app.inject({ method: 'GET', url: `/api/admin/tenants?${query}`, headers: admin });
        expect(response.statusCode).toBe(200);
        const body = response.json() as { items: { id: string }[]; nextCursor?: string };
        return { ids: body.items.map((tenant) => tenant.id), next: body.nextCursor };
      };
      expect(await ids('q=CORP')).toEqual({ ids: ['acme', 'globex'] });
      expect(await ids('q=acme&plan=pro')).toEqual({ ids: ['acme-eu'] });
      expect(await ids('plan=free')).toEqual({ ids: ['acme', 'initech', 'ops'] });
      const first = await ids('plan=pro&limit=1');
      expect(first).toEqual({ ids: ['acme-eu'], next: 'acme-eu' });
      expect(await ids(`plan=pro&limit=1&after=${first.next}`)).toEqual({ ids: ['globex'], next: 'globex' });
      expect(await ids('plan=pro&limit=1&after=globex')).toEqual({ ids: [] });
      const bad = await t.app.inject({ method: 'GET', url: '/api/admin/tenants?q=', headers: admin });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error).toMatch(/^querystring\.q/);
    } finally {
      await t.close();
    }
  });
});
