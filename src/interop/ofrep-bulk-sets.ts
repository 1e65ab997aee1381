// OFREP bulk answers kept per caller while they are exact, as `/api/entitlements/` keeps a
// tenant's decision set: a bulk evaluation evaluated every feature, serialized the answer and
// hashed it on every request (3× the CPU of a single evaluation). A kept answer is used while
// the gate's decision cache is on the same generation (no write, policy reload, release change or
// store health change since: the same events drop both) and no override or billing period
// behind it has ended; its meters are read afresh every time (usage changes with every consume).

import type { EvaluationContext } from '@openfeature/server-sdk';
import type { Principal } from '../auth/principal.js';
import { TENANT_CONTEXT_KEY } from '../entitlements/entitle-provider.js';
import { validUntil } from '../gate/decision-cache.js';
import type { Logger } from '../logger.js';
import type { FeatureDefinition } from '../policy/types.js';
import {
  bulkAnswerOf,
  evaluate,
  evaluateAll,
  type BulkAnswer,
  type EvaluationSuccess,
  type OfrepEvaluator,
} from './ofrep-evaluation.js';

/** The gate's decision cache, as far as a kept answer depends on it. */
export interface DecisionGeneration {
  /** Moves on at every change that may alter a decision. */
  readonly generation: number;
  now(): number;
}

interface BulkSet {
  readonly generation: number;
  readonly features: ReadonlyMap<string, FeatureDefinition>;
  /** The earliest end of an override or billing period behind one of the flags. */
  readonly validUntil: number;
  readonly answer: BulkAnswer;
  /** Where the meters are in `answer.flags`. */
  readonly meters: readonly number[];
  /** Each flag's JSON, for the fingerprint: only the meters' are serialized again. */
  readonly flagJson: readonly string[];
}

/** Answers kept at most (tenant × targeting key × role); past it they start over. */
const MAX_SETS = 50_000;

export class BulkAnswers {
  readonly #deps: OfrepEvaluator;
  readonly #decisions: DecisionGeneration;
  /** tenant → role mark and targeting key → the answer; dropped whole when the generation moves on. */
  #sets = new Map<string, Map<string, BulkSet>>();
  #setsGeneration = -1;
  #count = 0;

  constructor(deps: OfrepEvaluator, decisions: DecisionGeneration) {
    this.#deps = deps;
    this.#decisions = decisions;
  }

  /** Every feature for the context: the kept answer when it is still exact, else evaluated (and kept). */
  async answer(
    context: EvaluationContext,
    principal: Pick<Principal, 'role'>,
    log: Pick<Logger, 'error'>,
  ): Promise<BulkAnswer> {
    const tenantId = context[TENANT_CONTEXT_KEY];
    const user = context.targetingKey;
    if (typeof tenantId !== 'string' || typeof user !== 'string')
      return evaluateAll(this.#deps, context, principal, log);
    // Admins see operators' notes on overrides: their answer is another one. One character, then the key.
    const userKey = `${principal.role === 'admin' ? 'a' : 'o'}${user}`;
    const features = this.#deps.policy.snapshot.features;
    const decisions = this.#decisions;
    const held = this.#sets.get(tenantId)?.get(userKey);
    if (
      held &&
      held.generation === decisions.generation &&
      held.features === features &&
      held.validUntil > decisions.now()
    )
      return held.meters.length === 0 ? held.answer : this.#withFreshMeters(held, context, principal, log);
    const generation = decisions.generation;
    const answer = await evaluateAll(this.#deps, context, principal, log);
    this.#keep(tenantId, userKey, generation, features, answer);
    return answer;
  }

  /** The kept answer with each meter evaluated now, hashed again. */
  async #withFreshMeters(
    set: BulkSet,
    context: EvaluationContext,
    principal: Pick<Principal, 'role'>,
    log: Pick<Logger, 'error'>,
  ): Promise<BulkAnswer> {
    const flags = set.answer.flags.slice();
    const flagJson = set.flagJson.slice();
    for (const index of set.meters) {
      const key = (flags[index] as EvaluationSuccess).key;
      const result = await evaluate(this.#deps, key, context, principal, log);
      // Only a policy change removes a feature, and that moves the generation on: evaluate afresh then.
      if (!result.ok && result.status === 404) return evaluateAll(this.#deps, context, principal, log);
      flags[index] = result.body as EvaluationSuccess;
      flagJson[index] = JSON.stringify(result.body);
    }
    return bulkAnswerOf(flags, set.answer.metadata, flagJson);
  }

  /** Keeps the answer when every flag is a decision (no failure, none STALE) and nothing changed meanwhile. */
  #keep(
    tenantId: string,
    userKey: string,
    generation: number,
    features: ReadonlyMap<string, FeatureDefinition>,
    answer: BulkAnswer,
  ): void {
    if (this.#decisions.generation !== generation) return;
    let until = Number.POSITIVE_INFINITY;
    const meters: number[] = [];
    for (const [index, flag] of answer.flags.entries()) {
      if (!('value' in flag) || flag.reason === 'STALE') return;
      if (features.get(flag.key)?.type === 'meter') meters.push(index);
      else until = Math.min(until, validUntil({ flagMetadata: flag.metadata }));
    }
    if (this.#setsGeneration !== generation || this.#count >= MAX_SETS) {
      this.#sets = new Map();
      this.#count = 0;
      this.#setsGeneration = generation;
    }
    let users = this.#sets.get(tenantId);
    if (users === undefined) this.#sets.set(tenantId, (users = new Map()));
    if (!users.has(userKey)) this.#count++;
    const flagJson = answer.flags.map((flag) => JSON.stringify(flag));
    users.set(userKey, { generation, features, validUntil: until, answer, meters, flagJson });
  }
}
