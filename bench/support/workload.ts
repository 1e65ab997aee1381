// The benchmark workload: a generated policy (features × plans with `extends`), tenants spread
// over the plans, some with overrides, and the same decisions expressed for the peers
// (flagd flag configuration, Unleash toggles) so every contender answers the same questions.

import { DEFAULT_MAX_TENANTS, TenantDirectory } from '../../src/entitlements/tenant-directory.js';
import { readPolicyTexts } from '../../src/policy/read-policy.js';
import type { FeatureValue, PolicySnapshot } from '../../src/policy/types.js';
import type { Override, TenantAddon, TenantSnapshot } from '../../src/store/store.js';
import type { TenantState } from '../../src/entitlements/decide.js';
import { fixedFeed } from '../../test/support/fixed-feed.js';

export interface Workload {
  readonly policy: PolicySnapshot;
  readonly policyText: string;
  readonly tenants: readonly TenantSnapshot[];
  readonly directory: TenantDirectory;
  /** Pre-drawn (tenant, feature) pairs, so drawing costs nothing during timing. */
  readonly questions: readonly { readonly tenantId: string; readonly feature: string }[];
  readonly booleanQuestions: readonly { readonly tenantId: string; readonly feature: string }[];
}

/** A small deterministic PRNG (mulberry32): the same workload on every run. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generatePolicyText(featureCount: number, planCount: number): string {
  const features: Record<string, object> = {};
  const plans: Record<string, { extends?: string; features: Record<string, FeatureValue> }> = {};
  for (let f = 0; f < featureCount; f++) {
    const kind = f % 10 < 7 ? 'boolean' : f % 10 < 9 ? 'number' : 'string';
    features[`feature_${f}`] = {
      name: `Feature ${f}`,
      description: `Generated feature ${f}.`,
      type: kind,
      default: kind === 'boolean' ? false : kind === 'number' ? 0 : 'basic',
      upgradeMessage: `Feature ${f} needs a higher plan.`,
      ...(kind === 'string' ? { values: ['basic', 'standard', 'premium'] } : {}),
    };
  }
  for (let p = 0; p < planCount; p++) {
    const values: Record<string, FeatureValue> = {};
    // Each plan grants a slice more than the one it extends.
    for (
      let f = Math.floor((p * featureCount) / planCount);
      f < Math.floor(((p + 1) * featureCount) / planCount);
      f++
    ) {
      const kind = f % 10 < 7 ? 'boolean' : f % 10 < 9 ? 'number' : 'string';
      values[`feature_${f}`] =
        kind === 'boolean' ? true : kind === 'number' ? (p + 1) * 5 : p % 2 === 0 ? 'standard' : 'premium';
    }
    plans[`plan_${p}`] = { ...(p > 0 ? { extends: `plan_${p - 1}` } : {}), features: values };
  }
  return JSON.stringify({ features, plans });
}

/**
 * The same features and plans with pricing history: each plan's current version is 2 (its number
 * values one higher than version 1, which is kept as sold), and three add-ons (a number that adds
 * per unit, a boolean that grants, and one only some plans may hold).
 */
export function versionPolicyText(text: string): string {
  const policy = JSON.parse(text) as {
    features: Record<string, object>;
    plans: Record<string, { extends?: string; features: Record<string, FeatureValue> }>;
  };
  const plans: Record<string, object> = {};
  const keys = Object.keys(policy.plans);
  for (const [key, plan] of Object.entries(policy.plans)) {
    const current = Object.fromEntries(
      Object.entries(plan.features).map(([feature, value]) => [feature, typeof value === 'number' ? value + 1 : value]),
    );
    plans[key] = { ...plan, version: 2, features: current, versions: { 1: { features: plan.features } } };
  }
  const addons = {
    extra_units: { features: { feature_7: 5, feature_8: 10 } },
    unlock: { features: { feature_1: true, feature_2: true } },
    top_plans_only: { availableOn: keys.slice(-2), features: { feature_17: 20 } },
  };
  return JSON.stringify({ features: policy.features, plans, addons });
}

/**
 * Tenants of `versioned` (a policy from {@link versionPolicyText}): the same tenants, `oldShare` of
 * them still on version 1, and `addonShare` holding one to three add-ons with quantities 1–3.
 */
export function versionTenants(
  tenants: readonly TenantSnapshot[],
  versioned: PolicySnapshot,
  options: { oldShare: number; addonShare: number },
  next: () => number,
): TenantSnapshot[] {
  const addonKeys = [...versioned.addons.keys()];
  return tenants.map((snapshot) => {
    const planVersion = next() < options.oldShare ? 1 : 2;
    const addons: TenantAddon[] = [];
    if (next() < options.addonShare) {
      for (const addon of addonKeys.filter(() => next() < 0.5))
        addons.push({
          tenantId: snapshot.tenant.id,
          addon,
          quantity: 1 + Math.floor(next() * 3),
          createdAt: snapshot.tenant.createdAt,
          updatedAt: snapshot.tenant.updatedAt,
        });
    }
    return { ...snapshot, tenant: { ...snapshot.tenant, planVersion }, ...(addons.length > 0 ? { addons } : {}) };
  });
}

export function compile(text: string): PolicySnapshot {
  const result = readPolicyTexts([{ file: 'generated.yaml', text }]);
  if (!result.ok) throw new Error(`generated policy is invalid: ${result.issues[0]?.message}`);
  return result.snapshot;
}

/** Tenants spread over the policy's plans at random, `overrideShare` of them with one to three overrides. */
export function generateTenants(
  policy: PolicySnapshot,
  options: { tenants: number; overrideShare: number },
  next: () => number,
): TenantSnapshot[] {
  const planKeys = [...policy.plans.keys()];
  const featureKeys = [...policy.features.keys()];
  const at = '2026-01-01T00:00:00.000Z';
  const tenants: TenantSnapshot[] = [];
  for (let i = 0; i < options.tenants; i++) {
    const id = `tenant-${i}`;
    const plan = planKeys[Math.floor(next() * planKeys.length)] as string;
    const overrides: Override[] = [];
    if (next() < options.overrideShare) {
      const count = 1 + Math.floor(next() * 3);
      for (let o = 0; o < count; o++) {
        const feature = featureKeys[Math.floor(next() * featureKeys.length)] as string;
        if (overrides.some((existing) => existing.feature === feature)) continue;
        const definition = policy.features.get(feature);
        const value: FeatureValue =
          definition?.type === 'boolean'
            ? next() < 0.5
            : definition?.type === 'number'
              ? Math.floor(next() * 50)
              : 'premium';
        overrides.push({
          tenantId: id,
          feature,
          value,
          reason: 'bench',
          actor: 'bench',
          expiresAt: null,
          createdAt: at,
          updatedAt: at,
          version: 1,
        });
      }
    }
    tenants.push({ tenant: { id, name: id, plan, planVersion: 1, createdAt: at, updatedAt: at }, overrides });
  }
  return tenants;
}

/** A directory over fixed tenants (no store), every one of them in memory: what a warm service holds. */
export async function directoryOf(tenants: readonly TenantSnapshot[]): Promise<TenantDirectory> {
  const [directory] = await directoriesOf([tenants]);
  return directory as TenantDirectory;
}

/**
 * Directories over several tenant lists, loaded together, a tenant of each in turn: compared
 * against each other, none gets the better place in memory by being loaded first.
 */
export async function directoriesOf(lists: readonly (readonly TenantSnapshot[])[]): Promise<TenantDirectory[]> {
  const directories = await Promise.all(
    lists.map((tenants) =>
      TenantDirectory.open(
        { changes: fixedFeed(tenants), afterWrite: () => () => undefined },
        { maxTenants: Math.max(tenants.length, DEFAULT_MAX_TENANTS) },
      ),
    ),
  );
  const longest = Math.max(...lists.map((tenants) => tenants.length));
  for (let i = 0; i < longest; i++)
    for (const [at, tenants] of lists.entries()) {
      const snapshot = tenants[i];
      if (snapshot) await directories[at]?.load(snapshot.tenant.id);
    }
  return directories;
}

/** The tenants of a warm directory, as decisions read them. */
export function heldTenants(directory: TenantDirectory, tenants: readonly TenantSnapshot[]): TenantState[] {
  return tenants.flatMap((snapshot) => directory.get(snapshot.tenant.id) ?? []);
}

export async function buildWorkload(options: {
  tenants: number;
  features: number;
  plans: number;
  overrideShare: number;
  questions?: number;
  seed?: number;
}): Promise<Workload> {
  const next = random(options.seed ?? 42);
  const policyText = generatePolicyText(options.features, options.plans);
  const policy = compile(policyText);
  const featureKeys = [...policy.features.keys()];
  const tenants = generateTenants(policy, options, next);
  const directory = await directoryOf(tenants);
  const draw = (filter: (feature: string) => boolean) => {
    const pool = featureKeys.filter(filter);
    return Array.from({ length: options.questions ?? 100_000 }, () => ({
      tenantId: `tenant-${Math.floor(next() * options.tenants)}`,
      feature: pool[Math.floor(next() * pool.length)] as string,
    }));
  };
  return {
    policy,
    policyText,
    tenants,
    directory,
    questions: draw(() => true),
    booleanQuestions: draw((key) => policy.features.get(key)?.type === 'boolean'),
  };
}
