// OFREP evaluations without HTTP: one feature, or the bulk answer with its fingerprint. The
// routes answer with them, and the event streams use the same fingerprint to tell when a
// caller's answer has changed.

import { ErrorCode, OpenFeatureError, type EvaluationContext, type ResolutionDetails } from '@openfeature/server-sdk';
import type { Logger } from '../logger.js';
import type { Principal } from '../auth/principal.js';
import type { EntitleProvider } from '../entitlements/entitle-provider.js';
import { etagOf } from '../http/etag.js';
import type { PolicyWatcher } from '../policy/watch.js';
import type { FeatureValue } from '../policy/types.js';

/** The per-flag error codes OFREP allows (FLAG_NOT_FOUND has its own 404 shape). */
export const FAILURE_CODES = ['PARSE_ERROR', 'TARGETING_KEY_MISSING', 'INVALID_CONTEXT', 'GENERAL'] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

/** Operators' notes on an override: for admin callers only, never for the tenant itself. */
const OPERATOR_METADATA = ['overrideReason', 'overrideActor'];

export interface EvaluationSuccess {
  key: string;
  value: FeatureValue;
  reason: string;
  variant?: string;
  metadata: Record<string, string | number | boolean>;
}
export interface EvaluationFailure {
  key: string;
  errorCode: FailureCode;
  errorDetails?: string;
}
export type Evaluation =
  | { ok: true; body: EvaluationSuccess }
  | { ok: false; status: 404; body: { key: string; errorCode: 'FLAG_NOT_FOUND'; errorDetails?: string } }
  | { ok: false; status: 400 | 500; body: EvaluationFailure };

/** What evaluating needs: the policy in force and the provider every decision goes through. */
export interface OfrepEvaluator {
  readonly policy: Pick<PolicyWatcher, 'snapshot'>;
  readonly provider: Pick<
    EntitleProvider,
    'resolveBooleanEvaluation' | 'resolveNumberEvaluation' | 'resolveStringEvaluation'
  >;
}

export async function evaluate(
  deps: OfrepEvaluator,
  key: string,
  context: EvaluationContext,
  principal: Pick<Principal, 'role'>,
  log: Pick<Logger, 'error'>,
): Promise<Evaluation> {
  const feature = deps.policy.snapshot.features.get(key);
  if (!feature)
    return {
      ok: false,
      status: 404,
      body: { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `feature "${key}" is not in the policy` },
    };
  try {
    const { provider } = deps;
    const resolution: ResolutionDetails<FeatureValue> =
      feature.type === 'boolean'
        ? await provider.resolveBooleanEvaluation(key, false, context)
        : // A meter is a number: its remaining units, with limit, used and resetsAt in the metadata.
          feature.type === 'number' || feature.type === 'meter'
          ? await provider.resolveNumberEvaluation(key, 0, context)
          : await provider.resolveStringEvaluation(key, '', context);
    const metadata: Record<string, string | number | boolean> = { ...resolution.flagMetadata };
    if (principal.role !== 'admin') for (const field of OPERATOR_METADATA) delete metadata[field];
    return {
      ok: true,
      body: {
        key,
        value: resolution.value,
        reason: resolution.reason ?? 'UNKNOWN',
        ...(resolution.variant ? { variant: resolution.variant } : {}),
        metadata,
      },
    };
  } catch (error) {
    const code = error instanceof OpenFeatureError ? error.code : ErrorCode.GENERAL;
    if (code === ErrorCode.FLAG_NOT_FOUND)
      return {
        ok: false,
        status: 404,
        body: { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: error instanceof Error ? error.message : 'not found' },
      };
    // The protocol's codes only: anything else (a type mismatch, a provider not ready) is GENERAL, a server-side failure.
    const errorCode: FailureCode = (FAILURE_CODES as readonly string[]).includes(code)
      ? (code as FailureCode)
      : 'GENERAL';
    // Our errors say what went wrong; anything else stays in the log.
    if (!(error instanceof OpenFeatureError)) log.error({ err: error, feature: key }, 'OFREP evaluation failed');
    const errorDetails = error instanceof OpenFeatureError ? error.message : 'evaluation failed';
    return { ok: false, status: errorCode === 'GENERAL' ? 500 : 400, body: { key, errorCode, errorDetails } };
  }
}

export interface BulkAnswer {
  readonly flags: (EvaluationSuccess | EvaluationFailure)[];
  readonly metadata: { policyVersion: string };
  /** A hash of flags and metadata: it changes exactly when some decision (or its why) changes. */
  readonly fingerprint: string;
  /** `{ flags, metadata }` as JSON: what the fingerprint hashes, and the answer's body. */
  readonly json: string;
}

/** Every feature of the policy for one context. */
export async function evaluateAll(
  deps: OfrepEvaluator,
  context: EvaluationContext,
  principal: Pick<Principal, 'role'>,
  log: Pick<Logger, 'error'>,
): Promise<BulkAnswer> {
  const flags: (EvaluationSuccess | EvaluationFailure)[] = [];
  for (const key of deps.policy.snapshot.features.keys()) {
    const result = await evaluate(deps, key, context, principal, log);
    // Every key comes from the policy: only a success or a per-flag failure, never "not found".
    if (result.ok || result.status !== 404) flags.push(result.body as EvaluationSuccess | EvaluationFailure);
  }
  return bulkAnswerOf(flags, { policyVersion: deps.policy.snapshot.version });
}

/**
 * The bulk answer of these flags: its JSON (`JSON.stringify({ flags, metadata })`, built from each
 * flag's JSON so that a kept answer re-serializes only the flags that changed) and its hash.
 */
export function bulkAnswerOf(
  flags: BulkAnswer['flags'],
  metadata: BulkAnswer['metadata'],
  flagJson: readonly string[] = flags.map((flag) => JSON.stringify(flag)),
): BulkAnswer {
  const json = `{"flags":[${flagJson.join(',')}],"metadata":${JSON.stringify(metadata)}}`;
  return { flags, metadata, json, fingerprint: etagOf(json).slice(1, -1) };
}

/**
 * When the answer changes with no write: the soonest end of a period in which a meter it shows
 * is used up (the allowance comes back then). Undefined when no meter is used up, or only meters
 * whose allowance is 0, to which a new period brings nothing.
 */
export function refillAt(answer: Pick<BulkAnswer, 'flags'>): number | undefined {
  let soonest: number | undefined;
  for (const flag of answer.flags) {
    // Only meters carry `remaining` in their metadata.
    if (!('metadata' in flag) || flag.metadata.remaining !== 0) continue;
    const { resetsAt, limit } = flag.metadata;
    if (typeof resetsAt !== 'string' || limit === 0) continue;
    const at = Date.parse(resetsAt);
    if (!Number.isNaN(at) && (soonest === undefined || at < soonest)) soonest = at;
  }
  return soonest;
}
