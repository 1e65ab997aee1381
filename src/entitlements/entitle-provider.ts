// The OpenFeature provider: every entitlement decision in Entitle goes through it.

import {
  FlagNotFoundError,
  GeneralError,
  InvalidContextError,
  StandardResolutionReasons,
  OpenFeatureEventEmitter,
  ProviderEvents,
  TypeMismatchError,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import type { FeatureType, FeatureValue, PolicySnapshot } from '../policy/types.js';
import { changedFeatures } from './changed-features.js';
import { decide, decideNow, featureDecisions, type Decision, type TenantState } from './decide.js';
import { notReleased, type ReleaseSwitch } from './release-switch.js';
import type { TenantChange, TenantDirectory } from './tenant-directory.js';

/** Where the provider reads the policy in force (a PolicyWatcher, or a fixed snapshot in tests). */
export interface PolicySource {
  readonly snapshot: PolicySnapshot;
  on(event: 'change', listener: (snapshot: PolicySnapshot, previous: PolicySnapshot) => void): unknown;
  off(event: 'change', listener: (snapshot: PolicySnapshot, previous: PolicySnapshot) => void): unknown;
}

/**
 * Reads a meter's usage for a decision already made (usage/meters.ts): a meter evaluates as
 * its remaining units (number) or whether any remain (boolean).
 */
export type MeterUsageReader = (tenantId: string, decision: Decision) => Promise<MeterUsage>;

/** What a meter evaluation reports: remaining is the value; the rest goes into flag metadata. */
export interface MeterUsage {
  readonly limit: number | 'unlimited';
  readonly used: number;
  readonly remaining: number | 'unlimited';
  readonly resetsAt: string | null;
  readonly unit: string;
}

export interface EntitleProviderOptions {
  readonly policy: PolicySource;
  readonly tenants: TenantDirectory;
  /** Milliseconds since the epoch; decides which overrides have expired. */
  readonly clock?: () => number;
  /** Release toggles for features with `rollout.unleash`; without it those references are ignored. */
  readonly releases?: ReleaseSwitch;
  /**
   * How long decisions may come from the last known state once the store is out of reach
   * (reason STALE); after that every evaluation fails, and the gate fails closed. Default 60 s.
   */
  readonly staleBoundMs?: number;
  /** Usage of meters; without it a meter evaluates as its allowance with nothing used. */
  readonly meters?: MeterUsageReader;
  /** Told of every decision made (metrics): the feature and the resolution's source and cause. */
  readonly onDecision?: (decision: {
    readonly feature: string;
    readonly source: string;
    readonly cause: string;
  }) => void;
}

const DEFAULT_STALE_BOUND_MS = 60_000;

/** The evaluation context key that names the tenant. */
export const TENANT_CONTEXT_KEY = 'tenantId';

/**
 * Resolves features for tenants: unexpired override > plan (through `extends`) > default.
 * Emits ConfigurationChanged when the policy reloads or a tenant's plan or overrides change.
 */
export class EntitleProvider implements Provider {
  readonly metadata = { name: 'entitle' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  readonly #policy: PolicySource;
  readonly #tenants: TenantDirectory;
  readonly #clock: () => number;
  readonly #releases: ReleaseSwitch | undefined;
  readonly #staleBoundMs: number;
  readonly #meters: MeterUsageReader | undefined;
  readonly #onDecision: EntitleProviderOptions['onDecision'];
  #stopReleases: (() => void) | undefined;

  constructor(options: EntitleProviderOptions) {
    this.#policy = options.policy;
    this.#tenants = options.tenants;
    this.#clock = options.clock ?? Date.now;
    this.#releases = options.releases;
    this.#staleBoundMs = options.staleBoundMs ?? DEFAULT_STALE_BOUND_MS;
    this.#meters = options.meters;
    this.#onDecision = options.onDecision;
  }

  async initialize(): Promise<void> {
    this.#policy.on('change', this.#onPolicyChange);
    this.#tenants.on('change', this.#onTenantChange);
    this.#tenants.on('stale', this.#onStale);
    this.#tenants.on('fresh', this.#onFresh);
    this.#stopReleases = this.#releases?.onChange?.(this.#onReleaseChange);
  }

  async onClose(): Promise<void> {
    this.#stopReleases?.();
    this.#policy.off('change', this.#onPolicyChange);
    this.#tenants.off('change', this.#onTenantChange);
    this.#tenants.off('stale', this.#onStale);
    this.#tenants.off('fresh', this.#onFresh);
  }

  /** The full decision, for callers that need the why, of a tenant in memory (else as an unknown tenant). */
  decide(tenantId: string, featureKey: string): Decision | undefined {
    return decide(this.#policy.snapshot, this.#tenants.get(tenantId), featureKey, this.#clock());
  }

  resolveBooleanEvaluation(
    flagKey: string,
    _default: boolean,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<boolean>> {
    return this.#answer(flagKey, 'boolean', context) as Promise<ResolutionDetails<boolean>>;
  }

  resolveStringEvaluation(
    flagKey: string,
    _default: string,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<string>> {
    return this.#answer(flagKey, 'string', context) as Promise<ResolutionDetails<string>>;
  }

  resolveNumberEvaluation(
    flagKey: string,
    _default: number,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<number>> {
    return this.#answer(flagKey, 'number', context) as Promise<ResolutionDetails<number>>;
  }

  async resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    _default: T,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>> {
    // Features are booleans, numbers or strings: asking for an object is always a mismatch.
    this.resolve(flagKey, 'object', context);
    throw new TypeMismatchError(`feature "${flagKey}" is not an object`);
  }

  /**
   * `resolve` as a promise, rejected with its error: cheaper than an async method on the hot path.
   * A tenant in memory is decided synchronously; any other is read first (one indexed read).
   */
  #answer(flagKey: string, type: FeatureType, context: EvaluationContext): Promise<ResolutionDetails<FeatureValue>> {
    try {
      const tenantId = tenantOf(context);
      if (this.#policy.snapshot.features.get(flagKey)?.type === 'meter')
        return this.#meterAnswer(flagKey, type, context);
      const tenant = this.#tenants.get(tenantId);
      if (tenant === undefined && !this.#tenants.has(tenantId))
        return this.#loadTenant(tenantId).then((read) => this.#resolveFor(read, tenantId, flagKey, type, context));
      return Promise.resolve(this.#resolveFor(tenant, tenantId, flagKey, type, context));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Reads a tenant not in memory; a store out of reach fails closed. */
  async #loadTenant(tenantId: string): Promise<TenantState | undefined> {
    try {
      return await this.#tenants.load(tenantId);
    } catch {
      throw new GeneralError('the store is out of reach and the tenant is not in memory: no decision (fail closed)');
    }
  }

  /**
   * The resolution the four resolve*Evaluation methods answer, synchronously; throws the
   * OpenFeature errors (FlagNotFound, TypeMismatch, InvalidContext, General) they reject with.
   */
  resolve(flagKey: string, type: FeatureType | 'object', context: EvaluationContext): ResolutionDetails<FeatureValue> {
    const tenantId = tenantOf(context);
    return this.#resolveFor(this.#tenants.get(tenantId), tenantId, flagKey, type, context);
  }

  /** `resolve` for the tenant as read (it may have left memory again before its decision). */
  #resolveFor(
    tenant: TenantState | undefined,
    tenantId: string,
    flagKey: string,
    type: FeatureType | 'object',
    context: EvaluationContext,
  ): ResolutionDetails<FeatureValue> {
    const decisions = featureDecisions(this.#policy.snapshot, flagKey);
    if (!decisions)
      throw new FlagNotFoundError(
        `feature "${flagKey}" is not in the policy (version ${this.#policy.snapshot.version})`,
      );
    const { feature } = decisions;
    if (feature.type !== type) {
      throw new TypeMismatchError(`feature "${flagKey}" is a ${feature.type}, not a ${type}`);
    }
    let resolution: ResolutionDetails<FeatureValue>;
    const toggle = feature.rollout?.unleash;
    if (toggle !== undefined && this.#releases) {
      const decision = decisions.decide(tenant, this.#clock);
      resolution = decision.resolution;
      const userId = context.targetingKey;
      if (decision.granted && !this.#releases.isEnabled(toggle, userId ? { tenantId, userId } : { tenantId }))
        resolution = notReleased(decision, toggle);
    } else resolution = decisions.resolve(tenant, this.#clock);
    if (this.#onDecision) {
      const { source, cause } = resolution.flagMetadata ?? {};
      this.#onDecision({ feature: flagKey, source: String(source), cause: String(cause) });
    }
    const staleSince = this.#tenants.staleSince;
    if (staleSince === undefined) return resolution;
    if (this.#clock() - staleSince > this.#staleBoundMs) {
      throw new GeneralError(
        `the store has been out of reach for more than ${Math.round(this.#staleBoundMs / 1000)} s: no decision is trusted (fail closed)`,
      );
    }
    return staleOf(resolution);
  }

  /**
   * A meter as a number (remaining units; unlimited as Number.MAX_SAFE_INTEGER) or a boolean
   * (whether any remain), with limit, used and resetsAt in the flag metadata. Usage changes with
   * every consume, so this is read from the store on each evaluation.
   */
  async #meterAnswer(
    flagKey: string,
    type: FeatureType,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<FeatureValue>> {
    if (type !== 'number' && type !== 'boolean')
      throw new TypeMismatchError(
        `feature "${flagKey}" is a meter: evaluate it as a number (remaining) or a boolean (any remaining)`,
      );
    const tenantId = tenantOf(context);
    const tenant = this.#tenants.has(tenantId) ? this.#tenants.get(tenantId) : await this.#loadTenant(tenantId);
    const decision = decideNow(this.#policy.snapshot, tenant, flagKey, this.#clock);
    if (!decision)
      throw new FlagNotFoundError(
        `feature "${flagKey}" is not in the policy (version ${this.#policy.snapshot.version})`,
      );
    const staleSince = this.#tenants.staleSince;
    if (staleSince !== undefined)
      throw new GeneralError('the store is out of reach: usage cannot be read (fail closed)');
    const allowance = decision.value;
    const usage: MeterUsage =
      this.#meters && decision.cause !== 'UNKNOWN_TENANT'
        ? await this.#meters(tenantId, decision)
        : {
            limit: allowance === 'unlimited' ? 'unlimited' : Number(allowance),
            used: 0,
            remaining: allowance === 'unlimited' ? 'unlimited' : Number(allowance),
            resetsAt: null,
            unit: decision.feature.meter?.unit ?? '',
          };
    const remaining = usage.remaining === 'unlimited' ? Number.MAX_SAFE_INTEGER : usage.remaining;
    const flagMetadata = {
      ...decision.metadata,
      limit: usage.limit,
      used: usage.used,
      remaining: usage.remaining,
      unit: usage.unit,
      ...(usage.resetsAt ? { resetsAt: usage.resetsAt } : {}),
    };
    return {
      value: type === 'number' ? remaining : remaining > 0,
      variant: decision.variant,
      reason: decision.reason,
      flagMetadata,
    };
  }

  #onStale = (since: number): void => {
    this.events.emit(ProviderEvents.Stale, {
      message: `the store is out of reach since ${new Date(since).toISOString()}: decisions come from the last known state`,
    });
  };

  #onFresh = (): void => {
    this.events.emit(ProviderEvents.Ready, { message: 'the store is back' });
    this.events.emit(ProviderEvents.ConfigurationChanged, {
      flagsChanged: [...this.#policy.snapshot.features.keys()],
      metadata: { recovered: true },
    });
  };

  #onReleaseChange = (): void => {
    const gated = [...this.#policy.snapshot.features.values()]
      .filter((feature) => feature.rollout)
      .map((feature) => feature.key);
    if (gated.length > 0)
      this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: gated, metadata: { source: 'unleash' } });
  };

  #onPolicyChange = (snapshot: PolicySnapshot, previous: PolicySnapshot): void => {
    this.events.emit(ProviderEvents.ConfigurationChanged, {
      flagsChanged: changedFeatures(previous, snapshot),
      metadata: { policyVersion: snapshot.version },
    });
  };

  #onTenantChange = (change: TenantChange): void => {
    this.events.emit(ProviderEvents.ConfigurationChanged, {
      flagsChanged: change.features === 'all' ? [...this.#policy.snapshot.features.keys()] : [...change.features],
      metadata:
        change.tenantIds.length <= 20 && change.everyone !== true
          ? { tenants: change.tenantIds.join(',') }
          : { tenantCount: change.tenantIds.length },
    });
  };
}

/** The tenant the context names; throws InvalidContextError without one. */
function tenantOf(context: EvaluationContext): string {
  const tenantId = context[TENANT_CONTEXT_KEY];
  if (typeof tenantId !== 'string' || tenantId.length === 0) {
    throw new InvalidContextError(`the evaluation context needs "${TENANT_CONTEXT_KEY}" (a non-empty string)`);
  }
  return tenantId;
}

// A decision from the last known state, while the store is out of reach.
const staleResolutions = new WeakMap<ResolutionDetails<FeatureValue>, ResolutionDetails<FeatureValue>>();

function staleOf(resolution: ResolutionDetails<FeatureValue>): ResolutionDetails<FeatureValue> {
  let stale = staleResolutions.get(resolution);
  if (!stale) {
    stale = Object.freeze({ ...resolution, reason: StandardResolutionReasons.STALE });
    staleResolutions.set(resolution, stale);
  }
  return stale;
}
