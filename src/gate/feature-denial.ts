// The one shape of "Feature not available": the gate's 403 and every later re-check (the OAuth
// callback) say the same thing — which feature, its display name, why, the lowest plan that
// grants it and the policy's upgrade message.

import { FeatureNotAvailableError, withDetails, type EntitleError } from '../errors.js';
import type { FeatureDefinition } from '../policy/types.js';

/** Builds the 403 for `key`; `cause` is the decision's flagMetadata.cause (NOT_IN_PLAN when absent). */
export function featureNotAvailable(
  key: string,
  definition: FeatureDefinition | undefined,
  cause: unknown,
): EntitleError {
  const reason = typeof cause === 'string' ? cause : 'NOT_IN_PLAN';
  return withDetails(new FeatureNotAvailableError(), {
    feature: key,
    featureName: definition?.name ?? key,
    reason,
    requiredPlan: definition?.requiredPlan ?? null,
    message: definition?.upgradeMessage ?? `${key} is not available on your plan.`,
  });
}
