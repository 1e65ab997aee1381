// OFREP event streams (ADR-0008): the bulk answer advertises a stream whose URL carries a
// short-lived credential for the caller's tenant; the stream sends refetchEvaluation with the
// ETag a re-fetch will answer with, when that tenant's decisions change — an override, a plan,
// a policy reload, an expiry, or a write on another instance.

import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { issueApiToken } from '../../src/auth/api-tokens.js';
import { StreamLinks } from '../../src/interop/event-stream-links.js';
import {
  bulk,
  listeningApp,
  openStream,
  refetch,
  twoPostgresInstances,
  type Closing,
  type ListeningApp,
} from '../support/ofrep-streams.js';
import { copyPolicyDir } from '../support/policy.js';
import { openSse } from '../support/sse.js';

const closing: Closing = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

const start = (options: Parameters<typeof listeningApp>[1] = {}) => listeningApp(closing, options);
const stream = (url: string, token: string) => openStream(closing, url, token);

async function override(
  r: ListeningApp,
  tenant: string,
  feature: string,
  value: unknown,
  expiresAt: string | null = null,
) {
  const response = await r.t.app.inject({
    method: 'PUT',
    url: `/api/admin/tenants/${tenant}/overrides/${feature}`,
    headers: r.t.auth(r.admin),
    payload: { value, reason: 'test', expiresAt },
  });
  expect(response.statusCode).toBeLessThan(300);
}

const claimsOf = (link: string) =>
  JSON.parse(
    Buffer.from((new URL(link).searchParams.get('token') as string).split('.')[1] as string, 'base64url').toString(),
  ) as Record<string, unknown>;

describe('OFREP event streams', () => {
  it('are advertised in the bulk answer with a URL that carries a tenant-scoped credential, never the bearer token', async () => {
    const r = await start();
    const token = await r.t.token('acme', 'alice');
    const { body } = await bulk(r.url, token);
    expect(body?.eventStreams).toEqual([
      {
        type: 'sse',
        url: expect.stringMatching(new RegExp(`^${r.url}/ofrep/v1/events\\?token=[\\w-]+\\.[\\w-]+\\.[\\w-]+$`)),
        inactivityDelaySec: 120,
      },
    ]);
    const link = body?.eventStreams?.[0]?.url as string;
    expect(link).not.toContain(token);
    const claims = JSON.parse(
      Buffer.from((new URL(link).searchParams.get('token') as string).split('.')[1] as string, 'base64url').toString(),
    ) as Record<string, unknown>;
    expect(claims).toMatchObject({ tid: 'acme', uid: 'alice', role: 'member', aud: 'entitle:ofrep-events' });
    expect((claims.exp as number) - (claims.iat as number)).toBe(600);
  });

  it("send refetchEvaluation with the ETag the re-fetch answers when an operator overrides the tenant's feature, and nothing to other tenants", async () => {
    const r = await start();
    const acme = await r.t.token('acme', 'alice');
    const globex = await r.t.token('globex', 'gina');
    const acmeStream = await stream(r.url, acme);
    const globexStream = await stream(r.url, globex);
    const before = await bulk(r.url, acme);

    await override(r, 'acme', 'can_use_sso', true);
    const event = await refetch(acmeStream);
    const after = await bulk(r.url, acme, { 'if-none-match': before.etag });
    expect(after.status).toBe(200);
    expect(event).toEqual({ type: 'refetchEvaluation', etag: after.etag, lastModified: expect.any(Number) });
    expect(after.body?.flags.find((flag) => flag.key === 'can_use_sso')?.value).toBe(true);

    // Globex's first event is for its own change, not Acme's.
    await override(r, 'globex', 'can_use_webhooks', true);
    expect((await refetch(globexStream)).etag).toBe((await bulk(r.url, globex)).etag);
  });

  it('send refetchEvaluation on a plan change and on a policy reload', async () => {
    const policyDirectory = copyPolicyDir();
    const r = await start({ env: { ENTITLE_POLICIES: policyDirectory } });
    const sse = await stream(r.url, await r.t.token('acme', 'alice'));
    const plan = await r.t.app.inject({
      method: 'PATCH',
      url: '/api/admin/tenants/acme',
      headers: r.t.auth(r.admin),
      payload: { plan: 'pro' },
    });
    expect(plan.statusCode).toBe(200);
    const afterPlan = await refetch(sse);
    const { writeFile, readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const plans = join(policyDirectory, 'plans.yaml');
    // A grant in place: taking something away from a version tenants are on would be refused.
    await writeFile(
      plans,
      (await readFile(plans, 'utf8')).replace(
        '      can_remove_branding: true\n',
        '      can_remove_branding: true\n      can_use_webhooks: true\n',
      ),
    );
    await r.t.app.entitle.policy.reload();
    const afterReload = await refetch(sse);
    expect(afterReload.etag).not.toBe(afterPlan.etag);
  });

  it('send refetchEvaluation when an override reaches its expiry, with no write', async () => {
    const r = await start();
    const sse = await stream(r.url, await r.t.token('acme', 'alice'));
    await override(r, 'acme', 'can_use_sso', true, new Date(Date.now() + 800).toISOString());
    const granted = await refetch(sse);
    const expired = await refetch(sse);
    expect(expired.etag).not.toBe(granted.etag);
    const { body } = await bulk(r.url, await r.t.token('acme', 'alice'));
    expect(body?.flags.find((flag) => flag.key === 'can_use_sso')?.value).toBe(false);
  });

  it('refuse a forged, expired or missing credential with 401', async () => {
    const r = await start();
    const forged = await new StreamLinks(randomBytes(32)).issue({
      tenantId: 'acme',
      userId: 'alice',
      role: 'member',
      fingerprint: 'x',
      principal: 'token:x',
      tokenId: null,
    });
    const expired = await new StreamLinks(randomBytes(32), () => Date.now() - 3_600_000).issue({
      tenantId: 'acme',
      userId: 'alice',
      role: 'member',
      fingerprint: 'x',
      principal: 'token:x',
      tokenId: null,
    });
    const token = await r.t.token('acme', 'alice');
    for (const query of [`token=${forged}`, `token=${expired}`, `token=${token}`]) {
      const sse = await openSse(`${r.url}/ofrep/v1/events?${query}`);
      expect(sse.status).toBe(401);
    }
    const missing = await r.t.app.inject({ method: 'GET', url: '/ofrep/v1/events' });
    expect(missing.statusCode).toBe(400);
  });

  it('cap streams per tenant and in all: 503 with Retry-After', async () => {
    const r = await start({ env: { ENTITLE_STREAMS_PER_TENANT: '2', ENTITLE_STREAMS_MAX: '3' } });
    const acme = await r.t.token('acme', 'alice');
    await stream(r.url, acme);
    await stream(r.url, acme);
    const { body } = await bulk(r.url, acme);
    const third = await openSse(body?.eventStreams?.[0]?.url as string);
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBe('30');
    expect(JSON.parse(third.body)).toMatchObject({
      code: 'ENT_ERR_STREAM_LIMIT',
      error: 'Too many open event streams (for this tenant); retry later',
    });
    const globex = await r.t.token('globex', 'gina');
    await stream(r.url, globex);
    const overall = await openSse((await bulk(r.url, globex)).body?.eventStreams?.[0]?.url as string);
    expect(overall.status).toBe(503);
    expect(JSON.parse(overall.body).error).toBe('Too many open event streams (on this server); retry later');
  });

  it('cap streams per user as well: one member cannot take the tenant’s streams from the others', async () => {
    const r = await start({ env: { ENTITLE_STREAMS_PER_USER: '2', ENTITLE_STREAMS_PER_TENANT: '10' } });
    const alice = await r.t.token('acme', 'alice');
    await stream(r.url, alice);
    await stream(r.url, alice);
    const third = await openSse((await bulk(r.url, alice)).body?.eventStreams?.[0]?.url as string);
    expect(third.status).toBe(503);
    expect(JSON.parse(third.body).error).toBe('Too many open event streams (for this user); retry later');
    // Another member of the tenant still gets a stream.
    await stream(r.url, await r.t.token('acme', 'bob'));
    // A member's link names the member, whatever targeting key it evaluated with.
    const spoofed = await fetch(`${r.url}/ofrep/v1/evaluate/flags`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: { targetingKey: 'mallory' } }),
    });
    const link = ((await spoofed.json()) as { eventStreams: { url: string }[] }).eventStreams[0]?.url as string;
    expect(claimsOf(link)).toMatchObject({ tid: 'acme', uid: 'alice' });
    expect((await openSse(link)).status).toBe(503);
  });

  it('give a client token links for the tenant and user it evaluated, each user counted apart', async () => {
    const r = await start({ env: { ENTITLE_STREAMS_PER_USER: '1' } });
    await r.t.token('globex', 'gina');
    const sdk = await r.t.token('ops', 'sdk', { role: 'client' });
    const linkFor = async (targetingKey: string) => {
      const response = await fetch(`${r.url}/ofrep/v1/evaluate/flags`, {
        method: 'POST',
        headers: { authorization: `Bearer ${sdk}`, 'content-type': 'application/json' },
        body: JSON.stringify({ context: { tenantId: 'globex', targetingKey } }),
      });
      return ((await response.json()) as { eventStreams: { url: string }[] }).eventStreams[0]?.url as string;
    };
    const gina = await linkFor('gina');
    expect(claimsOf(gina)).toMatchObject({ tid: 'globex', uid: 'gina', role: 'client' });
    const first = await openSse(gina);
    closing.push(async () => first.close());
    expect(first.status).toBe(200);
    expect((await openSse(gina)).status).toBe(503);
    const other = await openSse(await linkFor('gus'));
    closing.push(async () => other.close());
    expect(other.status).toBe(200);
  });

  it('refuse new streams once the token behind the link is revoked, and close open ones within seconds', async () => {
    const r = await start({ env: { ENTITLE_STREAM_CHECK_MS: '50' } });
    const token = await r.t.token('acme', 'alice');
    const sse = await stream(r.url, token);
    const link = (await bulk(r.url, token)).body?.eventStreams?.[0]?.url as string;
    const tokenId = claimsOf(link).tok as string;
    const revoked = await r.t.app.inject({
      method: 'DELETE',
      url: `/api/admin/tokens/${tokenId}`,
      headers: r.t.auth(r.admin),
    });
    expect(revoked.statusCode).toBe(200);
    await sse.ended;
    expect((await openSse(link)).status).toBe(401);
  });

  it('close the open streams of a deleted tenant within seconds, and open none for it', async () => {
    const r = await start({ env: { ENTITLE_STREAM_CHECK_MS: '50' } });
    const sdk = await r.t.token('ops', 'sdk', { role: 'client' });
    await r.t.token('globex', 'gina');
    const response = await fetch(`${r.url}/ofrep/v1/evaluate/flags`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sdk}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: { tenantId: 'globex', targetingKey: 'gina' } }),
    });
    const link = ((await response.json()) as { eventStreams: { url: string }[] }).eventStreams[0]?.url as string;
    const sse = await openSse(link);
    closing.push(async () => sse.close());
    expect(sse.status).toBe(200);
    const deleted = await r.t.app.inject({
      method: 'DELETE',
      url: '/api/admin/tenants/globex',
      headers: r.t.auth(r.admin),
    });
    expect(deleted.statusCode).toBeLessThan(300);
    await sse.ended;
    expect((await openSse(link)).status).toBe(401);
  });

  it('keep quiet streams open with heartbeats, and end them cleanly on shutdown', async () => {
    const r = await start({ env: { ENTITLE_STREAM_HEARTBEAT_MS: '50' } });
    const sse = await stream(r.url, await r.t.token('acme', 'alice'));
    expect(await sse.next((event) => event.comment === 'heartbeat')).toEqual({ comment: 'heartbeat' });
    await r.t.app.close();
    await sse.ended;
  });

  it('never write the credential to the log', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const r = await start({ logger: { level: 'debug', stream: sink } });
    const token = await r.t.token('acme', 'alice');
    const { body } = await bulk(r.url, token);
    const link = body?.eventStreams?.[0]?.url as string;
    const credential = new URL(link).searchParams.get('token') as string;
    const sse = await openSse(link);
    closing.push(async () => sse.close());
    await openSse(`${r.url}/ofrep/v1/events?token=${credential}x`);
    const log = lines.join('');
    expect(log).toContain('"route":"/ofrep/v1/events"');
    expect(log).not.toContain(credential);
    expect(log).not.toContain(token);
  });
});

describe.skipIf(!process.env.DATABASE_URL)('OFREP event streams on PostgreSQL', () => {
  it('deliver a change written on another instance, through the change feed', async () => {
    const [a, b] = await twoPostgresInstances(closing, copyPolicyDir(), 'entitle_events');
    await a.entitle.operations.createTenant({ id: 'acme', plan: 'free' }, { actor: 'test:setup' });
    const { token } = await issueApiToken(
      a.entitle.store,
      { tenantId: 'acme', userId: 'alice', role: 'member' },
      { actor: 'test:setup' },
    );
    await a.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(a.server.address() as { port: number }).port}`;
    const sse = await stream(url, token);

    await b.entitle.operations.setOverride(
      { tenantId: 'acme', feature: 'can_use_sso', value: true, reason: 'elsewhere', expiresAt: null },
      { actor: 'test:b' },
    );
    const event = await refetch(sse);
    expect(event.etag).toBe((await bulk(url, token)).etag);
  });
});
