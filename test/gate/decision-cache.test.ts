import { ErrorCode, type EvaluationDetails, type FlagValue } from '@openfeature/server-sdk';
import { beforeEach, describe, expect, it } from 'vitest';
import { DecisionCache, type DecisionKey } from '../../src/gate/decision-cache.js';

const KEY: DecisionKey = { type: 'boolean', feature: 'can_use_webhooks', tenantId: 'acme', userId: 'alice' };

function details<T extends FlagValue>(value: T, extra: Partial<EvaluationDetails<T>> = {}): EvaluationDetails<T> {
  return {
    flagKey: KEY.feature,
    value,
    variant: 'plan:business',
    reason: 'TARGETING_MATCH',
    flagMetadata: {},
    ...extra,
  };
}

/** A promise resolved from outside: an evaluation held in flight. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('DecisionCache', () => {
  let now: number;
  let invalidate: () => void;
  let subscribed: boolean;
  let cache: DecisionCache;
  let evaluations: number;
  const evaluate =
    <T extends FlagValue>(result: EvaluationDetails<T>) =>
    async () => {
      evaluations++;
      return result;
    };

  beforeEach(() => {
    now = Date.parse('2030-01-01T00:00:00Z');
    evaluations = 0;
    cache = new DecisionCache({
      clock: () => now,
      subscribe: (listener) => {
        invalidate = listener;
        subscribed = true;
        return () => (subscribed = false);
      },
    });
  });

  it('answers a repeated question from the cache, synchronously through peek', async () => {
    expect(cache.peek(KEY)).toBeUndefined();
    expect(await cache.get(KEY, evaluate(details(true)))).toEqual(details(true));
    expect(await cache.get(KEY, evaluate(details(false)))).toEqual(details(true));
    expect(cache.peek(KEY)).toEqual(details(true));
    expect(evaluations).toBe(1);
  });

  it('keeps tenants, users, features and flag types apart', async () => {
    await cache.get(KEY, evaluate(details(true)));
    for (const other of [
      { ...KEY, tenantId: 'globex' },
      { ...KEY, userId: 'bob' },
      { ...KEY, feature: 'can_use_round_robin' },
      { ...KEY, type: 'number' as const },
    ]) {
      expect(cache.peek(other)).toBeUndefined();
    }
    expect(cache.size).toBe(1);
  });

  it('forgets everything when the provider signals a change', async () => {
    await cache.get(KEY, evaluate(details(true)));
    invalidate();
    expect(cache.peek(KEY)).toBeUndefined();
    expect(await cache.get(KEY, evaluate(details(false)))).toEqual(details(false));
    expect(evaluations).toBe(2);
  });

  it('does not keep an evaluation that was in flight when a change came (a write returned meanwhile)', async () => {
    const held = deferred<EvaluationDetails<boolean>>();
    const inFlight = cache.get(KEY, () => held.promise);
    invalidate(); // the write returns while the evaluation, begun before it, is still running
    held.resolve(details(true)); // the pre-write decision
    expect(await inFlight).toEqual(details(true)); // the request that asked first may have it
    expect(cache.peek(KEY)).toBeUndefined(); // but nobody after the write
    expect(await cache.get(KEY, evaluate(details(false)))).toEqual(details(false));
  });

  it('does not keep errors or decisions from a stale state', async () => {
    await cache.get(KEY, evaluate(details(false, { errorCode: ErrorCode.GENERAL, reason: 'ERROR' })));
    await cache.get(KEY, evaluate(details(true, { reason: 'STALE' })));
    expect(cache.peek(KEY)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('ends an entry built on an expiring override when the override expires', async () => {
    await cache.get(
      KEY,
      evaluate(details(true, { variant: 'override', flagMetadata: { overrideExpiresAt: '2030-01-01T00:01:00.000Z' } })),
    );
    now += 59_999;
    expect(cache.peek(KEY)?.value).toBe(true);
    now += 1;
    expect(cache.peek(KEY)).toBeUndefined();
  });

  it('starts over when full rather than growing', async () => {
    const small = new DecisionCache({ subscribe: () => () => undefined, maxEntries: 2 });
    for (const userId of ['a', 'b', 'c']) await small.get({ ...KEY, userId }, evaluate(details(true)));
    expect(small.size).toBe(1);
    expect(small.peek({ ...KEY, userId: 'a' })).toBeUndefined();
    expect(small.peek({ ...KEY, userId: 'c' })?.value).toBe(true);
  });

  it('stops listening and forgets everything when closed', async () => {
    await cache.get(KEY, evaluate(details(true)));
    cache.close();
    expect(subscribed).toBe(false);
    expect(cache.size).toBe(0);
  });
});
