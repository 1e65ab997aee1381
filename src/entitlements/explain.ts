// A decision as plain JSON that says why: used by `entitle explain` and the admin API.

import type { FeatureDefinition, FeatureValue } from '../policy/types.js';
import type { Decision, DecisionCause, DecisionSource } from './decide.js';
import { notReleased } from './release-switch.js';

/** Why a tenant has (or lacks) a feature, including a release toggle that holds it back. */
export type ExplanationCause = DecisionCause | 'NOT_RELEASED';

/**
 * What a tenant would have to do to get a feature it lacks. Only a missing plan grant is fixed by
 * an upgrade: an override beats every plan, and a release toggle is not the tenant's to change,
 * so for those there is no required plan and no upgrade message.
 */
export function upgradeAdvice(
  feature: FeatureDefinition,
  cause: string | undefined,
): { readonly requiredPlan: string | null; readonly upgradeMessage?: string } {
  const upgradeHelps = cause === 'NOT_IN_PLAN' || cause === 'UNKNOWN_PLAN' || cause === 'UNKNOWN_TENANT';
  return upgradeHelps
    ? { requiredPlan: feature.requiredPlan ?? null, upgradeMessage: feature.upgradeMessage }
    : { requiredPlan: null };
}

export interface Explanation {
  readonly tenant: string;
  readonly feature: string;
  readonly featureName: string;
  readonly type: string;
  readonly value: FeatureValue;
  readonly granted: boolean;
  readonly variant: string;
  readonly reason: string;
  readonly source: DecisionSource;
  readonly cause: ExplanationCause;
  readonly plan: string | null;
  readonly planVersion: number | null;
  readonly definedBy: string | null;
  /** The add-ons that raised or granted the value (present when some did). */
  readonly addons?: string[];
  readonly policyVersion: string;
  readonly override: {
    value: FeatureValue;
    reason: string;
    actor: string;
    expiresAt: string | null;
    version: number;
  } | null;
  /** Billing decides the tenant's plan: why (ACTIVE, TRIAL, CANCELING, GRACE_PERIOD, ENDED) and the subscription status. */
  readonly billing?: { readonly cause: string; readonly status: string };
  /** Trialing: when the trial ends. */
  readonly trial?: { readonly endsAt: string };
  /** A payment failed: the plan stays until the grace period ends, unless it is paid. */
  readonly gracePeriod?: { readonly endsAt: string };
  /** The release toggle holding an entitled tenant back, and the value it is entitled to. */
  readonly release?: { readonly toggle: string; readonly entitledValue: FeatureValue };
  /** When the feature is not granted: the lowest plan that grants it (null when no upgrade would help) and the upgrade message. */
  readonly requiredPlan?: string | null;
  readonly upgradeMessage?: string;
}

/**
 * Explains a decision. With `heldBackBy` (see `heldBackBy` in release-switch.ts) it explains
 * what the tenant gets while that release toggle is off: the provider's answer, not the plan's.
 */
export function explain(tenantId: string, decision: Decision, heldBackBy?: string): Explanation {
  const { feature, override } = decision;
  const held = heldBackBy === undefined ? undefined : notReleased(decision, heldBackBy);
  const granted = held ? false : decision.granted;
  const cause: ExplanationCause = held ? 'NOT_RELEASED' : decision.cause;
  return {
    tenant: tenantId,
    feature: feature.key,
    featureName: feature.name,
    type: feature.type,
    value: held ? held.value : decision.value,
    granted,
    variant: held?.variant ?? decision.variant,
    reason: held?.reason ?? decision.reason,
    source: decision.source,
    cause,
    plan: decision.plan ?? null,
    planVersion: decision.planVersion ?? null,
    definedBy: decision.definedBy ?? null,
    ...(typeof decision.metadata.addons === 'string' ? { addons: decision.metadata.addons.split(',') } : {}),
    policyVersion: decision.policyVersion,
    override: override
      ? {
          value: override.value,
          reason: override.reason,
          actor: override.actor,
          expiresAt: override.expiresAt,
          version: override.version,
        }
      : null,
    ...billingFields(decision),
    ...(heldBackBy === undefined ? {} : { release: { toggle: heldBackBy, entitledValue: decision.value } }),
    ...(granted ? {} : upgradeAdvice(feature, cause)),
  };
}

function billingFields({ billing }: Decision): Pick<Explanation, 'billing' | 'trial' | 'gracePeriod'> {
  if (!billing) return {};
  return {
    billing: { cause: billing.cause, status: billing.status },
    ...(billing.trialEndsAt ? { trial: { endsAt: billing.trialEndsAt } } : {}),
    ...(billing.graceEndsAt ? { gracePeriod: { endsAt: billing.graceEndsAt } } : {}),
  };
}

/** One line for a terminal. */
export function explainText(explanation: Explanation): string {
  const lines = [
    `${explanation.feature} for tenant ${explanation.tenant}: ${JSON.stringify(explanation.value)} (${explanation.granted ? 'granted' : 'not granted'})`,
    `  variant ${explanation.variant}, reason ${explanation.reason}, source ${explanation.source}, cause ${explanation.cause}`,
    `  plan ${explanation.plan ?? '-'}${explanation.planVersion !== null ? ` version ${explanation.planVersion}` : ''}${explanation.addons ? ` with add-ons ${explanation.addons.join(', ')}` : ''}${explanation.definedBy && explanation.definedBy !== explanation.plan ? ` (value from ${explanation.definedBy})` : ''}, policy ${explanation.policyVersion}`,
  ];
  if (explanation.billing) {
    const until = explanation.trial
      ? `, trial ends ${explanation.trial.endsAt}`
      : explanation.gracePeriod
        ? `, grace period ends ${explanation.gracePeriod.endsAt}`
        : '';
    lines.push(`  billing: ${explanation.billing.cause} (subscription ${explanation.billing.status}${until})`);
  }
  if (explanation.release)
    lines.push(
      `  held back by release toggle ${explanation.release.toggle} (entitled to ${JSON.stringify(explanation.release.entitledValue)})`,
    );
  if (explanation.override) {
    const o = explanation.override;
    lines.push(`  override by ${o.actor}: ${o.reason}${o.expiresAt ? ` (expires ${o.expiresAt})` : ''}`);
  }
  if (!explanation.granted && explanation.upgradeMessage) lines.push(`  ${explanation.upgradeMessage}`);
  return lines.join('\n');
}
