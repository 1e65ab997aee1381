// A decision as plain JSON that says why: used by `entitle explain` and the admin API.

import type { FeatureValue } from '../policy/types.js';
import type { Decision, DecisionCause, DecisionSource } from './decide.js';

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
  readonly cause: DecisionCause;
  readonly plan: string | null;
  readonly definedBy: string | null;
  readonly policyVersion: string;
  readonly override: { value: FeatureValue; reason: string; actor: string; expiresAt: string | null; version: number } | null;
  /** When the feature is not granted: the lowest plan that grants it and the upgrade message. */
  readonly requiredPlan?: string | null;
  readonly upgradeMessage?: string;
}

export function explain(tenantId: string, decision: Decision): Explanation {
  const { feature, override } = decision;
  return {
    tenant: tenantId,
    feature: feature.key,
    featureName: feature.name,
    type: feature.type,
    value: decision.value,
    granted: decision.granted,
    variant: decision.variant,
    reason: decision.reason,
    source: decision.source,
    cause: decision.cause,
    plan: decision.plan ?? null,
    definedBy: decision.definedBy ?? null,
    policyVersion: decision.policyVersion,
    override: override
      ? { value: override.value, reason: override.reason, actor: override.actor, expiresAt: override.expiresAt, version: override.version }
      : null,
    ...(decision.granted ? {} : { requiredPlan: feature.requiredPlan ?? null, upgradeMessage: feature.upgradeMessage }),
  };
}

/** One line for a terminal. */
export function explainText(explanation: Explanation): string {
  const lines = [
    `${explanation.feature} for tenant ${explanation.tenant}: ${JSON.stringify(explanation.value)} (${explanation.granted ? 'granted' : 'not granted'})`,
    `  variant ${explanation.variant}, reason ${explanation.reason}, source ${explanation.source}, cause ${explanation.cause}`,
    `  plan ${explanation.plan ?? '-'}${explanation.definedBy && explanation.definedBy !== explanation.plan ? ` (value from ${explanation.definedBy})` : ''}, policy ${explanation.policyVersion}`,
  ];
  if (explanation.override) {
    const o = explanation.override;
    lines.push(`  override by ${o.actor}: ${o.reason}${o.expiresAt ? ` (expires ${o.expiresAt})` : ''}`);
  }
  if (!explanation.granted && explanation.upgradeMessage) lines.push(`  ${explanation.upgradeMessage}`);
  return lines.join('\n');
}
