// The meter gate: a route that declares `config: { feature: { key, consume: n } }` consumes n
// units of that meter for the caller's tenant before its handler runs (after the body is
// validated, so a bad request costs nothing), answers 403 "Limit reached" when the tenant has
// no units left, and gives the units back when the handler fails: a thrown error or a 5xx.
// An `Idempotency-Key` header makes a retried request count once.

import type { FastifyPluginAsync, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { Principal } from '../auth/principal.js';
import { AuthRequiredError, InvalidInputError } from '../errors.js';
import type { ConsumeResult, Consumption, Refusal } from '../usage/meters.js';

/** What the meter gate consumes with (the Meters service, narrowed). */
export interface MeterGateOptions {
  /** Whether `key` is a meter of the policy in force. */
  readonly isMeter: (key: string) => boolean;
  readonly consume: (
    principal: Principal,
    feature: string,
    amount: number,
    options: { readonly idempotencyKey?: string; readonly requestId: string },
  ) => Promise<ConsumeResult>;
  readonly giveBack: (consumption: Consumption) => Promise<void>;
  /** A refusal as the error to answer with (403 Limit reached, the usage API's words). */
  readonly limitReached: (refusal: Refusal) => Error;
}

const IDEMPOTENCY_HEADER = 'idempotency-key';

const meterGate: FastifyPluginAsync<MeterGateOptions> = async (fastify, options) => {
  if (typeof options.consume !== 'function') throw new TypeError('options.consume should be a function');
  if (typeof options.giveBack !== 'function') throw new TypeError('options.giveBack should be a function');
  if (typeof options.isMeter !== 'function') throw new TypeError('options.isMeter should be a function');
  if (typeof options.limitReached !== 'function') throw new TypeError('options.limitReached should be a function');
  // What each request consumed, until its answer is known; failed: the handler threw.
  const consumed = new WeakMap<FastifyRequest, { consumption: Consumption; failed: boolean }>();

  function consumeHook(key: string, amount: number): preHandlerHookHandler {
    return async (request) => {
      const principal = request.principal;
      if (!principal) throw new AuthRequiredError();
      const header = request.headers[IDEMPOTENCY_HEADER];
      if (Array.isArray(header)) throw new InvalidInputError('headers.idempotency-key: only one may be sent');
      const result = await options.consume(principal, key, amount, {
        requestId: request.id,
        ...(header ? { idempotencyKey: header } : {}),
      });
      if (!result.granted) throw options.limitReached(result);
      if (result.consumption) consumed.set(request, { consumption: result.consumption, failed: false });
    };
  }

  fastify.addHook('onRoute', (route) => {
    const requirement = route.config?.feature;
    if (typeof requirement !== 'object' || !('consume' in requirement)) return;
    const { key, consume } = requirement;
    if (!options.isMeter(key))
      throw new TypeError(`route ${route.url}: config.feature "${key}" is not a meter of the policy`);
    if (!Number.isInteger(consume) || consume < 1)
      throw new TypeError(`route ${route.url}: config.feature.consume should be a positive whole number`);
    const hooks =
      route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    route.preHandler = [...hooks, consumeHook(key, consume)];
  });

  fastify.addHook('onError', async (request) => {
    const entry = consumed.get(request);
    if (entry) entry.failed = true;
  });

  // Before the answer goes out: a client that sees a failure also sees its units back.
  fastify.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload) => {
    const entry = consumed.get(request);
    if (!entry) return payload;
    consumed.delete(request);
    if (entry.failed || reply.statusCode >= 500) await options.giveBack(entry.consumption);
    return payload;
  });
};

export default fp(meterGate, { fastify: '5.x', name: 'entitle-meter-gate', dependencies: ['entitle-auth'] });
