// The one way a route reads the caller's entitlements: `request.entitlements`. Every read goes
// through the OpenFeature client (and the gate's decision cache), for the tenant of the
// authenticated principal only, and an evaluation error always reads as the closed side.

import {
  OpenFeature,
  OpenFeatureError,
  type Client,
  type EvaluationContext,
  type EvaluationDetails,
  type FlagValue,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import type { Principal } from '../auth/principal.js';
import { AuthRequiredError, EntitlementUnavailableError } from '../errors.js';
import { isGranted } from '../policy/compile.js';
import type { FeatureDefinition, FeatureType, FeatureValue } from '../policy/types.js';
import type { MeterUsage } from '../entitlements/entitle-provider.js';
import { validUntil, type DecisionCache } from './decision-cache.js';

/** One feature, decided for the caller's tenant. */
export interface Entitlement {
  readonly feature: string;
  readonly type: FeatureType;
  /** The decided value; after an evaluation error the closed side: false, 0 or ''. */
  readonly value: FeatureValue;
  /** Whether the value gives the feature (true, a limit above 0, a non-empty string); false after an error. */
  readonly granted: boolean;
  /** Why: IN_PLAN, NOT_IN_PLAN, GRANTED_BY_OVERRIDE, NOT_RELEASED, …; undefined when the provider gave none. */
  readonly cause: string | undefined;
  /** What decided it: 'plan', 'override', 'default', …; undefined when the provider gave none. */
  readonly source: string | undefined;
  readonly variant: string | undefined;
  /** Set when no decision could be made: the value is then the closed side. */
  readonly errorCode: string | undefined;
  /** For a meter (whose value is its remaining units): the period's limit, usage and when it resets. */
  readonly meter?: MeterUsage;
}

/** What a handler's consume answers: granted or not, and the meter's state after it. */
export interface ConsumeResult {
  readonly granted: boolean;
  /** The answer as the usage API gives it (limit, used, remaining, resetsAt; on a refusal the upgrade advice). */
  readonly body: Readonly<Record<string, unknown>>;
}

/** Consumes units of a meter for a principal's tenant (usage/meters.ts, narrowed). */
export type ConsumeForPrincipal = (
  principal: Principal,
  feature: string,
  amount: number,
  options: { readonly idempotencyKey?: string | undefined; readonly requestId?: string | undefined },
) => Promise<ConsumeResult>;

/** `request.entitlements`: reads for the authenticated caller; each throws 401 without one. */
export interface RequestEntitlements {
  /** One feature with everything about its decision; an evaluation error gives the closed side with `errorCode`. */
  details(key: string): Promise<Entitlement>;
  /** Like `details`, but no decision is an error (503): for answers that must not guess. */
  decided(key: string): Promise<Entitlement>;
  /** The value, the closed side on an evaluation error. */
  value(key: string): Promise<FeatureValue>;
  /** Whether the feature is on; false on an evaluation error. */
  enabled(key: string): Promise<boolean>;
  /** A numeric limit; 0 on an evaluation error or when the feature is not a number. */
  limit(key: string): Promise<number>;
  /** Every feature of the policy, in policy order, decided for the caller's tenant. */
  all(): Promise<readonly Entitlement[]>;
  /**
   * Consumes `amount` units of a meter for the caller's tenant, atomically: granted only while
   * the allowance (then top-ups) covers it. The same `idempotencyKey` within 24 hours counts once.
   */
  consume(feature: string, amount: number, options?: { readonly idempotencyKey?: string }): Promise<ConsumeResult>;
}

export interface EntitlementReaderOptions {
  readonly client: Client;
  /** The features of the policy in force, in policy order. */
  readonly features: () => ReadonlyMap<string, FeatureDefinition>;
  readonly cache?: DecisionCache;
  /** Consumes meters; without it `consume` fails with 503. */
  readonly consume?: ConsumeForPrincipal;
  /**
   * The provider behind the client: a decision set's meters are read from it directly while no
   * OpenFeature hook is registered (as the cache reads everything else), not through the SDK.
   */
  readonly provider?: {
    resolveNumberEvaluation(
      key: string,
      defaultValue: number,
      context: EvaluationContext,
    ): Promise<ResolutionDetails<number>>;
  };
}

/** Every feature decided for one tenant and user, while nothing it depends on has changed. */
interface DecisionSet {
  readonly generation: number;
  readonly features: ReadonlyMap<string, FeatureDefinition>;
  /** The earliest expiry of an override behind one of the decisions. */
  readonly validUntil: number;
  /** In policy order; a meter's entry is only its place: meters are read afresh every time. */
  readonly entitlements: readonly Entitlement[];
  /** Where the meters are in `entitlements`. */
  readonly meters: readonly number[];
}

/** Decision sets kept at most (tenant × user); past it the sets start over. */
const MAX_DECISION_SETS = 50_000;

/** The evaluation context of a request: the tenant comes from the principal, and only from it. */
export function evaluationContext(principal: Principal): { tenantId: string; targetingKey: string } {
  return { tenantId: principal.tenantId, targetingKey: principal.userId };
}

const CLOSED: Readonly<Record<FeatureType, FeatureValue>> = { boolean: false, number: 0, string: '', meter: 0 };

/**
 * Decides features for principals. One per app; `forRequest` gives the per-request view, which
 * remembers its answers so a handler that reads a feature twice sees one decision.
 */
export class EntitlementReader {
  readonly #options: EntitlementReaderOptions;
  /** tenant → user → the set; dropped whole when the cache's generation moves on. */
  #sets = new Map<string, Map<string, DecisionSet>>();
  #setsGeneration = -1;
  #setCount = 0;

  constructor(options: EntitlementReaderOptions) {
    this.#options = options;
  }

  /**
   * Every feature for `principal`: from the tenant's decision set when it is still exact (no
   * write, policy reload or release change since — the cache's generation — and no override
   * behind it expired), with no evaluation and no promise per feature; otherwise each feature is
   * read through the client (and the cache), and the set is kept for the next request.
   * With OpenFeature hooks registered (on the API or the client) every read is evaluated, so the
   * hooks see each one.
   */
  async all(principal: Principal): Promise<readonly Entitlement[]> {
    const { cache, client } = this.#options;
    const hooked = client.getHooks().length > 0 || OpenFeature.getHooks().length > 0;
    if (!cache || hooked)
      return Promise.all([...this.#options.features().keys()].map((key) => this.decide(principal, key, !hooked)));
    const features = this.#options.features();
    const held = this.#sets.get(principal.tenantId)?.get(principal.userId);
    if (held && held.generation === cache.generation && held.features === features && held.validUntil > cache.now()) {
      return held.meters.length === 0 ? held.entitlements : this.#withFreshMeters(principal, held);
    }
    const generation = cache.generation;
    const entitlements = await Promise.all([...features.keys()].map((key) => this.decide(principal, key)));
    this.#keepSet(principal, generation, features, entitlements);
    return entitlements;
  }

  /** The set with each meter decided now (usage changes with every consume). */
  async #withFreshMeters(principal: Principal, set: DecisionSet): Promise<readonly Entitlement[]> {
    const fresh = await Promise.all(
      set.meters.map((index) => this.#meterNow(principal, (set.entitlements[index] as Entitlement).feature)),
    );
    const entitlements = set.entitlements.slice();
    set.meters.forEach((index, i) => (entitlements[index] = fresh[i] as Entitlement));
    return entitlements;
  }

  /** A meter's decision now: from the provider itself when it is given (`all` checked there is no hook), else through the client. */
  async #meterNow(principal: Principal, key: string): Promise<Entitlement> {
    const { provider } = this.#options;
    if (!provider) return this.decide(principal, key);
    try {
      return entitlementOf(key, 'meter', await provider.resolveNumberEvaluation(key, 0, evaluationContext(principal)));
    } catch (error) {
      return closed(key, 'meter', error instanceof OpenFeatureError ? error.code : 'GENERAL');
    }
  }

  /** Keeps the set only when every decision but the meters' is one the cache holds (not STALE, not an error) and nothing changed meanwhile. */
  #keepSet(
    principal: Principal,
    generation: number,
    features: ReadonlyMap<string, FeatureDefinition>,
    entitlements: readonly Entitlement[],
  ): void {
    const cache = this.#options.cache as DecisionCache;
    if (cache.generation !== generation) return;
    let until = Number.POSITIVE_INFINITY;
    const meters: number[] = [];
    for (const [index, entitlement] of entitlements.entries()) {
      // A meter is never cached (its usage changes with every consume): the set keeps its place only.
      if (entitlement.type === 'meter') {
        meters.push(index);
        continue;
      }
      const details = cache.peek({
        type: entitlement.type,
        feature: entitlement.feature,
        tenantId: principal.tenantId,
        userId: principal.userId,
      });
      if (details === undefined) return;
      until = Math.min(until, validUntil(details));
    }
    if (this.#setsGeneration !== generation || this.#setCount >= MAX_DECISION_SETS) {
      this.#sets = new Map();
      this.#setCount = 0;
      this.#setsGeneration = generation;
    }
    let users = this.#sets.get(principal.tenantId);
    if (users === undefined) this.#sets.set(principal.tenantId, (users = new Map()));
    if (!users.has(principal.userId)) this.#setCount++;
    users.set(principal.userId, { generation, features, validUntil: until, entitlements, meters });
  }

  /** One decision for `principal`; never throws for an evaluation error. */
  async decide(principal: Principal, key: string, cached = true): Promise<Entitlement> {
    // A key the policy does not know is evaluated as a boolean: the provider answers FLAG_NOT_FOUND.
    const type = this.#options.features().get(key)?.type ?? 'boolean';
    const context = evaluationContext(principal);
    const { client, cache } = this.#options;
    // A meter evaluates as a number: its remaining units.
    const evaluate = (): Promise<EvaluationDetails<FlagValue>> =>
      type === 'number' || type === 'meter'
        ? client.getNumberDetails(key, 0, context)
        : type === 'string'
          ? client.getStringDetails(key, '', context)
          : client.getBooleanDetails(key, false, context);
    let details: EvaluationDetails<FlagValue>;
    try {
      // Usage changes with every consume: a meter is never answered from the cache (a decision
      // set keeps only its place, and reads it afresh).
      details =
        cache && cached && type !== 'meter'
          ? await cache.get({ type, feature: key, tenantId: principal.tenantId, userId: principal.userId }, evaluate)
          : await evaluate();
    } catch {
      // The SDK does not throw from get*Details; should a hook do so, it is still no decision.
      return closed(key, type, 'GENERAL');
    }
    if (details.errorCode !== undefined) return closed(key, type, details.errorCode);
    return entitlementOf(key, type, details);
  }

  /** The per-request view for `principal` (null: every read answers 401). */
  forRequest(principal: Principal | null, requestId?: string): RequestEntitlements {
    const memo = new Map<string, Promise<Entitlement>>();
    const details = (key: string): Promise<Entitlement> => {
      if (!principal) return Promise.reject(new AuthRequiredError());
      let answer = memo.get(key);
      if (!answer) {
        answer = this.decide(principal, key);
        memo.set(key, answer);
      }
      return answer;
    };
    return {
      details,
      decided: async (key) => {
        const entitlement = await details(key);
        if (entitlement.errorCode !== undefined) throw new EntitlementUnavailableError();
        return entitlement;
      },
      value: async (key) => (await details(key)).value,
      enabled: async (key) => (await details(key)).granted,
      limit: async (key) => {
        const { value } = await details(key);
        return typeof value === 'number' ? value : 0;
      },
      all: () => (principal ? this.all(principal) : Promise.reject(new AuthRequiredError())),
      consume: async (feature, amount, options = {}) => {
        if (!principal) throw new AuthRequiredError();
        if (!this.#options.consume) throw new EntitlementUnavailableError();
        // A consume changes what a later read in this request must see.
        memo.delete(feature);
        return this.#options.consume(principal, feature, amount, { ...options, requestId });
      },
    };
  }
}

/** A decision (the SDK's details or the provider's resolution) as an entitlement. */
function entitlementOf(
  key: string,
  type: FeatureType,
  details: Pick<EvaluationDetails<FlagValue>, 'value' | 'variant'> & {
    readonly flagMetadata?: Readonly<Record<string, unknown>>;
  },
): Entitlement {
  const value = details.value as FeatureValue;
  const metadata = details.flagMetadata ?? {};
  return {
    feature: key,
    type,
    value,
    granted: isGranted(type, value),
    cause: stringOrUndefined(metadata.cause),
    source: stringOrUndefined(metadata.source),
    variant: details.variant,
    errorCode: undefined,
    ...(type === 'meter' ? { meter: meterUsageOf(metadata) } : {}),
  };
}

function closed(feature: string, type: FeatureType, errorCode: string): Entitlement {
  return {
    feature,
    type,
    value: CLOSED[type],
    granted: false,
    cause: undefined,
    source: undefined,
    variant: undefined,
    errorCode,
  };
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function meterUsageOf(metadata: Readonly<Record<string, unknown>>): MeterUsage {
  const count = (value: unknown): number | 'unlimited' =>
    value === 'unlimited' ? 'unlimited' : typeof value === 'number' ? value : 0;
  return {
    limit: count(metadata.limit),
    used: typeof metadata.used === 'number' ? metadata.used : 0,
    remaining: count(metadata.remaining),
    resetsAt: typeof metadata.resetsAt === 'string' ? metadata.resetsAt : null,
    unit: typeof metadata.unit === 'string' ? metadata.unit : '',
  };
}
