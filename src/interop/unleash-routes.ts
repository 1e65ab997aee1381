// The Unleash client API (GET /api/client/features, POST register and metrics), so any Unleash
// SDK can evaluate Entitle's boolean decisions in-process. The payload holds every tenant's
// decisions: for admin tokens and the read-only client role (an SDK's credential). It is cached
// and rebuilt when the policy, a tenant or a release toggle changes (a tenant's change before
// the write that changed it returns) or an override expires.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { etagOf, noneMatchHits } from '../http/etag.js';
import { AUTH_ERRORS, ErrorBody, noContent } from '../http/schemas.js';
import { buildUnleashPayloadOfPages } from './unleash-payload.js';
import type { PolicyWatcher } from '../policy/watch.js';
import type { TenantDirectory } from '../entitlements/tenant-directory.js';
import type { ReleaseSwitch } from '../entitlements/release-switch.js';

interface CachedPayload {
  readonly json: string;
  readonly etag: string;
  readonly validUntil: number;
}

const Constraint = Type.Object({
  contextName: Type.Literal('tenantId'),
  operator: Type.Union([Type.Literal('IN'), Type.Literal('NOT_IN')]),
  values: Type.Array(Type.String()),
  inverted: Type.Boolean(),
  caseInsensitive: Type.Boolean(),
});
const FeaturesBody = Type.Object(
  {
    version: Type.Literal(2),
    features: Type.Array(
      Type.Object({
        name: Type.String(),
        description: Type.String(),
        type: Type.String(),
        project: Type.String(),
        enabled: Type.Boolean(),
        stale: Type.Boolean(),
        impressionData: Type.Boolean(),
        variants: Type.Array(Type.Unknown()),
        strategies: Type.Array(
          Type.Object({
            name: Type.String(),
            parameters: Type.Object({}),
            constraints: Type.Array(Constraint),
            segments: Type.Optional(Type.Array(Type.Integer())),
          }),
        ),
      }),
    ),
    segments: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String(), constraints: Type.Array(Constraint) })),
    meta: Type.Object({ policyVersion: Type.String(), tenants: Type.Integer() }),
  },
  { description: 'Unleash client API features (v2): boolean features as toggles; plan segments list their tenants' },
);
// What SDKs send: only the app name is read (for the log); the rest is accepted as it comes.
const RegisterBody = Type.Object(
  {
    appName: Type.Optional(Type.String({ maxLength: 256 })),
    instanceId: Type.Optional(Type.String({ maxLength: 256 })),
    sdkVersion: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: true, description: 'Unleash client registration' },
);
const MetricsBody = Type.Object(
  {
    appName: Type.Optional(Type.String({ maxLength: 256 })),
    instanceId: Type.Optional(Type.String({ maxLength: 256 })),
    bucket: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: true, description: 'Unleash client metrics' },
);
const Accepted = noContent('Accepted (and not kept: Entitle has its own audit log and metrics)');

/** What the Unleash routes use; the payload is rebuilt when tenants, policy or release toggles change. */
export interface UnleashRoutesOptions {
  readonly policy: PolicyWatcher;
  /** Every tenant, read in pages when the payload is built; its changes invalidate the payload. */
  readonly tenants: Pick<TenantDirectory, 'pages' | 'on' | 'off'>;
  readonly releases: ReleaseSwitch | undefined;
  readonly clock: () => number;
}

export const unleashRoutes: FastifyPluginAsyncTypebox<UnleashRoutesOptions> = async (fastify, deps) => {
  let cached: CachedPayload | undefined;
  /** A build under way, shared by the requests that arrive meanwhile. */
  let building: Promise<CachedPayload> | undefined;
  /** Moves on with every change: a build that saw an older state is answered but not kept. */
  let generation = 0;
  const invalidate = (): void => {
    cached = undefined;
    building = undefined;
    generation++;
  };
  deps.tenants.on('change', invalidate);
  deps.policy.on('change', invalidate);
  const stopReleases = deps.releases?.onChange?.(invalidate);
  fastify.addHook('onClose', async () => {
    deps.tenants.off('change', invalidate);
    deps.policy.off('change', invalidate);
    stopReleases?.();
  });

  function current(): CachedPayload | Promise<CachedPayload> {
    const now = deps.clock();
    if (cached && now < cached.validUntil) return cached;
    if (building) return building;
    const started = generation;
    const build = (async () => {
      // Every tenant, a page at a time from the store: never the whole tenant list in memory at once.
      const { payload, validUntil } = await buildUnleashPayloadOfPages(
        deps.policy.snapshot,
        deps.tenants.pages(),
        now,
        deps.releases,
      );
      const json = JSON.stringify(payload);
      const answer = { json, etag: etagOf(json), validUntil };
      if (generation === started) cached = answer;
      return answer;
    })();
    building = build;
    const done = () => {
      if (building === build) building = undefined;
    };
    build.then(done, done);
    return build;
  }

  const SDK = { auth: ['admin', 'client'] } as const;
  const tags = ['unleash'];

  fastify.get(
    '/api/client/features',
    {
      config: SDK,
      schema: {
        tags,
        summary: 'Unleash client API: boolean features as toggles (ETag / If-None-Match)',
        headers: Type.Object({ 'if-none-match': Type.Optional(Type.String()) }),
        response: {
          200: FeaturesBody,
          304: noContent('Not modified: the answer carrying this ETag is still current'),
          ...AUTH_ERRORS,
        },
      },
    },
    async (request, reply) => {
      const payload = await current();
      reply.header('etag', payload.etag);
      if (noneMatchHits(request.headers['if-none-match'], payload.etag)) return reply.status(304).send();
      // Already serialized (and cached as text): sent as it is.
      return reply.type('application/json; charset=utf-8').send(payload.json as never);
    },
  );

  fastify.post(
    '/api/client/register',
    {
      config: SDK,
      schema: {
        tags,
        summary: 'Unleash client registration (accepted)',
        body: RegisterBody,
        response: { 202: Accepted, 400: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      request.log.debug({ appName: request.body.appName }, 'unleash client registered');
      return reply.status(202).send();
    },
  );

  fastify.post(
    '/api/client/metrics',
    {
      config: SDK,
      schema: {
        tags,
        summary: 'Unleash client metrics (accepted)',
        body: MetricsBody,
        response: { 202: Accepted, 400: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (_request, reply) => reply.status(202).send(),
  );
};
