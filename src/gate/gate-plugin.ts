// The generic gate: a route names the feature it needs (`config: { feature }`), optionally with
// a condition on the request, and the gate lets the request through only when the caller's
// tenant has that feature. Order of checks: not authenticated → 401; feature off → 403 with the
// upgrade message; the decision could not be made → 503 (fail closed). It knows no feature
// in particular.

import type { Client, EvaluationDetails, FlagValue } from '@openfeature/server-sdk';
import type { FastifyPluginAsync, FastifyRequest, onRequestHookHandler, preHandlerHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { Principal } from '../auth/principal.js';
import { AuthRequiredError, EntitlementUnavailableError } from '../errors.js';
import { featureNotAvailable } from './feature-denial.js';
import type { FeatureDefinition } from '../policy/types.js';
import type { DecisionCache, DecisionKey } from './decision-cache.js';
import {
  EntitlementReader,
  evaluationContext,
  type ConsumeForPrincipal,
  type EntitlementReaderOptions,
  type RequestEntitlements,
} from './request-entitlements.js';

/**
 * What a route declares: a feature key, a feature that applies only when `when` says so, or a
 * meter to consume from before the handler runs (see meter-gate.ts).
 */
export type FeatureRequirement =
  | string
  | { readonly key: string; readonly when: (request: FastifyRequest) => boolean }
  | { readonly key: string; readonly consume: number };

declare module 'fastify' {
  interface FastifyContextConfig {
    feature?: FeatureRequirement;
  }
  interface FastifyRequest {
    /** The caller's entitlements, the one way a handler reads a feature (e.g. a numeric limit). */
    readonly entitlements: RequestEntitlements;
  }
}

/** A denial, for the audit log. */
export interface GateDenial {
  readonly principal: Principal | null;
  readonly feature: string;
  readonly status: 401 | 403 | 503;
  readonly reason: string;
}

export interface GatePluginOptions {
  /** The OpenFeature client decisions go through. */
  readonly client: Client;
  /** The policy's feature definitions (display name, upgrade message, required plan), in policy order. */
  readonly features: () => ReadonlyMap<string, FeatureDefinition>;
  /** Caches decisions; without it every check evaluates through the client. */
  readonly cache?: DecisionCache;
  /** Consumes meters for `request.entitlements.consume`. */
  readonly consume?: ConsumeForPrincipal;
  /** The provider behind the client, for reads that bypass the SDK while no hook is registered (request-entitlements.ts). */
  readonly provider?: EntitlementReaderOptions['provider'];
  /** Called for every denial (401, 403, 503) before the response goes out. */
  readonly onDenied?: (request: FastifyRequest, denial: GateDenial) => Promise<void> | void;
}

const gatePlugin: FastifyPluginAsync<GatePluginOptions> = async (fastify, options) => {
  if (!options.client || typeof options.client.getBooleanDetails !== 'function')
    throw new TypeError('options.client should be an OpenFeature client');
  if (typeof options.features !== 'function') throw new TypeError('options.features should be a function');
  const { client, cache } = options;
  const feature = (key: string): FeatureDefinition | undefined => options.features().get(key);
  /** Evaluates through the cache when there is one. The key holds everything a decision depends on. */
  const cached = <T extends FlagValue>(
    type: DecisionKey['type'],
    feature: string,
    principal: Principal,
    evaluate: () => Promise<EvaluationDetails<T>>,
  ): Promise<EvaluationDetails<T>> =>
    cache ? cache.get({ type, feature, tenantId: principal.tenantId, userId: principal.userId }, evaluate) : evaluate();

  async function deny(
    request: FastifyRequest,
    feature: string,
    error: Error & { statusCode?: number },
    reason: string,
  ): Promise<never> {
    await options.onDenied?.(request, {
      principal: request.principal,
      feature,
      status: error.statusCode as GateDenial['status'],
      reason,
    });
    throw error;
  }

  async function check(request: FastifyRequest, key: string): Promise<void> {
    const principal = request.principal;
    if (!principal) return deny(request, key, new AuthRequiredError(), 'UNAUTHENTICATED');
    let details: EvaluationDetails<boolean>;
    try {
      const evaluate = () => client.getBooleanDetails(key, false, evaluationContext(principal));
      // A meter's answer changes with every consume: never from the cache.
      details = feature(key)?.type === 'meter' ? await evaluate() : await cached('boolean', key, principal, evaluate);
    } catch {
      return deny(request, key, new EntitlementUnavailableError(), 'EVALUATION_FAILED');
    }
    if (details.errorCode !== undefined)
      return deny(request, key, new EntitlementUnavailableError(), `EVALUATION_ERROR:${details.errorCode}`);
    if (details.value === true) return;
    const error = featureNotAvailable(key, feature(key), details.flagMetadata.cause);
    const reason = String(error.details?.reason);
    return deny(request, key, error, reason);
  }

  /**
   * The onRequest check for `key`. Callback style on purpose: a request whose grant is cached
   * passes without a promise or an evaluation; anything else takes the full `check`.
   */
  function gate(key: string): onRequestHookHandler {
    return function gateHook(request, _reply, done) {
      const principal = request.principal;
      if (
        cache &&
        principal &&
        cache.peek<boolean>({ type: 'boolean', feature: key, tenantId: principal.tenantId, userId: principal.userId })
          ?.value === true
      ) {
        done();
        return;
      }
      check(request, key).then(() => done(), done);
    };
  }

  fastify.addHook('onRoute', (route) => {
    const requirement = route.config?.feature;
    if (requirement === undefined) return;
    const key = typeof requirement === 'string' ? requirement : requirement.key;
    if (typeof key !== 'string' || key === '')
      throw new TypeError(`route ${route.url}: config.feature should name a feature`);
    if (!feature(key))
      throw new TypeError(`route ${route.url}: config.feature "${key}" is not a feature of the policy`);
    // A meter to consume from: the meter gate's (it consumes, and gives back when the handler fails).
    if (typeof requirement === 'object' && 'consume' in requirement) return;
    if (typeof requirement === 'string') {
      // onRequest: the cheapest place, before the body is even parsed.
      route.onRequest = [...toArray(route.onRequest), gate(key)];
      return;
    }
    const { when } = requirement;
    if (typeof when !== 'function') throw new TypeError(`route ${route.url}: config.feature.when should be a function`);
    // A condition on the request may need the body: preHandler runs after parsing and validation.
    const conditional: preHandlerHookHandler = async (request) => {
      if (when(request)) await check(request, key);
    };
    route.preHandler = [...toArray(route.preHandler), conditional];
  });

  // One view per request, made on first use: a request that reads no entitlement pays nothing.
  const reader = new EntitlementReader({
    client,
    features: options.features,
    ...(cache ? { cache } : {}),
    ...(options.consume ? { consume: options.consume } : {}),
    ...(options.provider ? { provider: options.provider } : {}),
  });
  // The view is made on first use and kept on the request itself (a decorated slot: no map to look it up in).
  fastify.decorateRequest(VIEW, null);
  fastify.decorateRequest('entitlements', {
    getter(this: FastifyRequest): RequestEntitlements {
      const request = this as FastifyRequest & { [VIEW]: RequestEntitlements | null };
      return (request[VIEW] ??= reader.forRequest(request.principal, request.id));
    },
  });
};

/** Where a request keeps its entitlements view. */
const VIEW = Symbol('entitle.entitlements');

function toArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export default fp(gatePlugin, { fastify: '5.x', name: 'entitle-gate', dependencies: ['entitle-auth'] });
