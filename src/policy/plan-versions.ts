// How a plan's versions read from its spec: the current version is the plan's own `features`,
// earlier ones are under `versions`, and each starts from a plan named as `free` or `free@1`.

import type { FeatureValue, PlanSpec } from './types.js';

/** A plan named in `extends`, at a version when it says one (`free@1`). */
export interface PlanRef {
  readonly plan: string;
  /** Undefined: the plan's current version. */
  readonly version: number | undefined;
}

/** One version of a plan as written: its own values and where it starts from. */
export interface PlanVersionSource {
  readonly version: number;
  readonly extends: PlanRef | undefined;
  readonly features: Readonly<Record<string, FeatureValue>>;
  /** The document path of its features (for positions): `features` or `versions.<n>.features`. */
  readonly path: readonly string[];
}

/** Reads `free` or `free@1`. */
export function parsePlanRef(text: string): PlanRef {
  const at = text.lastIndexOf('@');
  if (at < 0) return { plan: text, version: undefined };
  return { plan: text.slice(0, at), version: Number(text.slice(at + 1)) };
}

/** The version new tenants get: `version`, 1 when the plan does not say. */
export function currentVersionOf(spec: { readonly version?: unknown }): number {
  return typeof spec.version === 'number' ? spec.version : 1;
}

/** Every version a plan spec defines, the current one first, then earlier ones in ascending order. */
export function planVersionSources(spec: PlanSpec): PlanVersionSource[] {
  const current = currentVersionOf(spec);
  const base = typeof spec.extends === 'string' ? parsePlanRef(spec.extends) : undefined;
  const sources: PlanVersionSource[] = [
    { version: current, extends: base, features: spec.features ?? {}, path: ['features'] },
  ];
  const earlier = Object.entries(spec.versions ?? {})
    .map(([key, version]) => [Number(key), version] as const)
    .filter(([number]) => Number.isInteger(number) && number !== current)
    .sort(([a], [b]) => a - b);
  for (const [number, version] of earlier) {
    sources.push({
      version: number,
      extends: typeof version.extends === 'string' ? parsePlanRef(version.extends) : base,
      features: version.features ?? {},
      path: ['versions', String(number), 'features'],
    });
  }
  return sources;
}

/** `pro@2`: how a plan version is named in messages and variants. */
export function planVersionName(plan: string, version: number): string {
  return `${plan}@${version}`;
}
