// A release switch: a policy feature may name an Unleash toggle (`rollout.unleash`); the
// feature is then on only when the tenant is entitled AND the toggle is on for it.

import type { ResolutionDetails } from '@openfeature/server-sdk';
import type { FeatureValue } from '../policy/types.js';
import type { Decision } from './decide.js';

export interface ReleaseSwitch {
  /** Whether a toggle is on for a tenant (and user), from a local cache: never a network call. */
  isEnabled(toggle: string, context: { readonly tenantId: string; readonly userId?: string }): boolean;
  /** Called with the toggles that changed since the last refresh. Returns the function that stops listening. */
  onChange?(listener: () => void): () => void;
}

// Built once per decision: decisions are shared and frozen.
const held = new WeakMap<Decision, ResolutionDetails<FeatureValue>>();

/** An entitled decision whose release toggle is off: the feature's "off" value, saying why. */
export function notReleased(decision: Decision, toggle: string): ResolutionDetails<FeatureValue> {
  let resolution = held.get(decision);
  if (!resolution) {
    const { feature } = decision;
    // Booleans are simply off; a limit or a string falls back to the feature's default.
    const value = feature.type === 'boolean' ? false : feature.default;
    resolution = Object.freeze({
      value,
      variant: 'not-released',
      reason: 'DISABLED',
      flagMetadata: Object.freeze({
        ...decision.metadata,
        cause: 'NOT_RELEASED',
        entitledValue: decision.value,
        releaseToggle: toggle,
      }),
    });
    held.set(decision, resolution);
  }
  return resolution;
}

/**
 * The toggle holding an entitled decision back, if any: the provider's rule, for every surface
 * that decides outside the provider (the admin API, the Unleash payload). Undefined without a
 * release switch, for features without `rollout.unleash`, and for decisions that grant nothing.
 */
export function heldBackBy(
  decision: Decision,
  releases: ReleaseSwitch | undefined,
  context: { readonly tenantId: string; readonly userId?: string },
): string | undefined {
  const toggle = decision.feature.rollout?.unleash;
  if (toggle === undefined || releases === undefined || !decision.granted) return undefined;
  return releases.isEnabled(toggle, context) ? undefined : toggle;
}
