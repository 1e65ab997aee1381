// Decisions without HTTP: our provider called directly against @openfeature/flagd-core and
// unleash-client on the same decisions, and the OpenFeature client with our provider against
// the same client with a constant provider (the SDK's own floor).

import { FlagdCore } from '@openfeature/flagd-core';
import { OpenFeature, type Provider, type ResolutionDetails } from '@openfeature/server-sdk';
import { InMemStorageProvider, Unleash, type ClientFeaturesResponse } from 'unleash-client';
import { decide } from '../src/entitlements/decide.js';
import { EntitleProvider } from '../src/entitlements/entitle-provider.js';
import type { FeatureValue } from '../src/policy/types.js';
import { ns, ratio, timeOps, timeSync, type Row } from './support/measure.js';
import { buildWorkload, type Workload } from './support/workload.js';
import { TestPolicySource } from '../test/support/policy.js';

export async function benchDecisions(rows: Row[]): Promise<void> {
  const workload = await buildWorkload({ tenants: 10_000, features: 50, plans: 4, overrideShare: 0.1 });
  const provider = new EntitleProvider({ policy: new TestPolicySource(workload.policy), tenants: workload.directory });
  const flagd = new FlagdCore();
  flagd.setConfigurations(JSON.stringify(flagdConfiguration(workload)));
  const unleash = await startUnleashWith(workload);

  // The same decisions first: a benchmark of different answers would measure nothing.
  const now = Date.now();
  for (const { tenantId, feature } of workload.questions.slice(0, 5_000)) {
    const expected = decide(workload.policy, workload.directory.get(tenantId), feature, now)?.value;
    const type = workload.policy.features.get(feature)?.type;
    const context = { tenantId, targetingKey: tenantId };
    const got = type === 'boolean' ? flagd.resolveBooleanEvaluation(feature, false, context).value : type === 'number' ? flagd.resolveNumberEvaluation(feature, 0, context).value : flagd.resolveStringEvaluation(feature, '', context).value;
    if (got !== expected) throw new Error(`flagd disagrees on ${feature} for ${tenantId}: ${String(got)} ≠ ${String(expected)}`);
  }
  for (const { tenantId, feature } of workload.booleanQuestions.slice(0, 5_000)) {
    const expected = decide(workload.policy, workload.directory.get(tenantId), feature, now)?.value;
    if (unleash.isEnabled(feature, { properties: { tenantId } }) !== expected) throw new Error(`unleash disagrees on ${feature} for ${tenantId}`);
  }

  const q = workload.questions;
  const n = q.length;
  const ask = (i: number) => q[i % n] as { tenantId: string; feature: string };
  const typeOf = (feature: string) => workload.policy.features.get(feature)?.type;
  const ours = await timeOps(n, (i) => {
    const { tenantId, feature } = ask(i);
    const context = { tenantId, targetingKey: tenantId };
    const type = typeOf(feature);
    return type === 'boolean' ? provider.resolveBooleanEvaluation(feature, false, context) : type === 'number' ? provider.resolveNumberEvaluation(feature, 0, context) : provider.resolveStringEvaluation(feature, '', context);
  });
  const oursSync = timeSync(n, (i) => {
    const { tenantId, feature } = ask(i);
    return provider.decide(tenantId, feature);
  });
  const flagdTiming = timeSync(n, (i) => {
    const { tenantId, feature } = ask(i);
    const context = { tenantId, targetingKey: tenantId };
    const type = typeOf(feature);
    return type === 'boolean' ? flagd.resolveBooleanEvaluation(feature, false, context) : type === 'number' ? flagd.resolveNumberEvaluation(feature, 0, context) : flagd.resolveStringEvaluation(feature, '', context);
  });
  const b = workload.booleanQuestions;
  const oursBoolean = await timeOps(b.length, (i) => {
    const { tenantId, feature } = b[i % b.length] as { tenantId: string; feature: string };
    return provider.resolveBooleanEvaluation(feature, false, { tenantId });
  });
  const unleashTiming = timeSync(b.length, (i) => {
    const { tenantId, feature } = b[i % b.length] as { tenantId: string; feature: string };
    return unleash.isEnabled(feature, { properties: { tenantId } });
  });
  unleash.destroy();

  const section = 'provider resolve (10,000 tenants, 50 features, 4 plans, 10% with overrides)';
  rows.push({ section, name: '@openfeature/flagd-core resolve ("in" list targeting)', value: ns(flagdTiming.nsPerOp), raw: { nsPerOp: flagdTiming.nsPerOp } });
  rows.push({
    section,
    name: 'Entitle provider resolve (async, as the SDK calls it)',
    value: ns(ours.nsPerOp),
    ratio: ratio(flagdTiming.nsPerOp, ours.nsPerOp),
    peer: 'flagd-core (× faster)',
    target: '≥ 3× faster',
    met: flagdTiming.nsPerOp / ours.nsPerOp >= 3,
    raw: { nsPerOp: ours.nsPerOp },
  });
  rows.push({ section, name: 'Entitle decide (sync core)', value: ns(oursSync.nsPerOp), ratio: ratio(flagdTiming.nsPerOp, oursSync.nsPerOp), peer: 'flagd-core (× faster)', raw: { nsPerOp: oursSync.nsPerOp } });
  rows.push({ section, name: 'unleash-client isEnabled (tenantId IN constraint), booleans', value: ns(unleashTiming.nsPerOp), raw: { nsPerOp: unleashTiming.nsPerOp } });
  rows.push({
    section,
    name: 'Entitle provider resolve, booleans',
    value: ns(oursBoolean.nsPerOp),
    ratio: ratio(unleashTiming.nsPerOp, oursBoolean.nsPerOp),
    peer: 'unleash-client (× faster)',
    raw: { nsPerOp: oursBoolean.nsPerOp },
  });

  await benchClient(rows, workload, provider);
}

async function benchClient(rows: Row[], workload: Workload, provider: EntitleProvider): Promise<void> {
  const constant: Provider = {
    metadata: { name: 'constant' },
    runsOn: 'server',
    resolveBooleanEvaluation: async (): Promise<ResolutionDetails<boolean>> => ({ value: true, reason: 'STATIC' }),
    resolveNumberEvaluation: async (): Promise<ResolutionDetails<number>> => ({ value: 1, reason: 'STATIC' }),
    resolveStringEvaluation: async (): Promise<ResolutionDetails<string>> => ({ value: 'x', reason: 'STATIC' }),
    resolveObjectEvaluation: async <T>(): Promise<ResolutionDetails<T>> => ({ value: {} as T, reason: 'STATIC' }),
  };
  await OpenFeature.setProviderAndWait('bench-entitle', provider);
  await OpenFeature.setProviderAndWait('bench-constant', constant);
  const ours = OpenFeature.getClient('bench-entitle');
  const floor = OpenFeature.getClient('bench-constant');
  const b = workload.booleanQuestions;
  const pick = (i: number) => b[i % b.length] as { tenantId: string; feature: string };
  // Alternate the two, round by round, so both see the same GC and JIT conditions; medians.
  const floorRun = (i: number) => {
    const { tenantId, feature } = pick(i);
    return floor.getBooleanValue(feature, false, { tenantId, targetingKey: tenantId });
  };
  const oursRun = (i: number) => {
    const { tenantId, feature } = pick(i);
    return ours.getBooleanValue(feature, false, { tenantId, targetingKey: tenantId });
  };
  await timeOps(b.length, floorRun, 1);
  await timeOps(b.length, oursRun, 1);
  const floorSamples: number[] = [];
  const oursSamples: number[] = [];
  for (let round = 0; round < 7; round++) {
    floorSamples.push((await timeOps(b.length / 2, floorRun, 1)).nsPerOp);
    oursSamples.push((await timeOps(b.length / 2, oursRun, 1)).nsPerOp);
  }
  const median = (values: number[]) => values.sort((x, y) => x - y)[Math.floor(values.length / 2)] as number;
  const floorNs = median(floorSamples);
  const oursTiming = { nsPerOp: median(oursSamples) };
  const section = 'OpenFeature client getBooleanValue';
  rows.push({ section, name: 'client with a constant provider (SDK floor)', value: ns(floorNs), raw: { nsPerOp: floorNs } });
  rows.push({
    section,
    name: 'client with the Entitle provider',
    value: ns(oursTiming.nsPerOp),
    ratio: ratio(oursTiming.nsPerOp, floorNs),
    peer: 'constant provider',
    target: '≤ 1.15×',
    met: oursTiming.nsPerOp / floorNs <= 1.15,
    raw: { nsPerOp: oursTiming.nsPerOp },
  });
  await OpenFeature.clearProviders();
}

/** flagd: per feature, "in" lists of tenants for each override value and each plan value. */
export function flagdConfiguration(workload: Workload): object {
  const flags: Record<string, object> = {};
  for (const feature of workload.policy.features.values()) {
    const groups = new Map<string, string[]>(); // variant → tenants
    const variantOf = (value: FeatureValue) => `v_${String(value)}`;
    const variants: Record<string, FeatureValue> = { [variantOf(feature.default)]: feature.default };
    const overrideGroups = new Map<string, string[]>();
    for (const { tenant, overrides } of workload.tenants) {
      const override = overrides.find((o) => o.feature === feature.key);
      const plan = workload.policy.plans.get(tenant.plan);
      const value = override ? override.value : (plan?.values.get(feature.key)?.value ?? feature.default);
      variants[variantOf(value)] = value;
      const target = override ? overrideGroups : groups;
      if (!override && value === feature.default) continue;
      const list = target.get(variantOf(value)) ?? [];
      list.push(tenant.id);
      target.set(variantOf(value), list);
    }
    const rules: unknown[] = [];
    for (const [variant, tenants] of [...overrideGroups, ...groups]) rules.push({ in: [{ var: 'tenantId' }, tenants] }, variant);
    flags[feature.key] = {
      state: 'ENABLED',
      variants,
      defaultVariant: variantOf(feature.default),
      ...(rules.length > 0 ? { targeting: { if: [...rules, variantOf(feature.default)] } } : {}),
    };
  }
  return { flags };
}

/** unleash-client bootstrapped (no server) with one toggle per boolean feature: tenantId IN [granted]. */
async function startUnleashWith(workload: Workload): Promise<Unleash> {
  const now = Date.now();
  const features = [...workload.policy.features.values()]
    .filter((feature) => feature.type === 'boolean')
    .map((feature) => {
      const granted = workload.tenants.filter(({ tenant }) => decide(workload.policy, workload.directory.get(tenant.id), feature.key, now)?.value === true).map(({ tenant }) => tenant.id);
      return {
        name: feature.key,
        enabled: true,
        type: 'release',
        project: 'default',
        stale: false,
        impressionData: false,
        variants: [],
        strategies: [{ name: 'default', parameters: {}, constraints: [{ contextName: 'tenantId', operator: 'IN' as const, values: granted, inverted: false, caseInsensitive: false }] }],
      };
    });
  const client = new Unleash({
    url: 'http://127.0.0.1:9/api/',
    appName: 'entitle-bench',
    disableMetrics: true,
    refreshInterval: 0,
    disableAutoStart: true,
    storageProvider: new InMemStorageProvider(),
    // The transport types use enums; the JSON is what a server would send.
    bootstrap: { data: features as unknown as ClientFeaturesResponse['features'] },
    skipInstanceCountWarning: true,
  });
  client.on('error', () => undefined);
  const ready = new Promise((resolve) => client.once('ready', resolve));
  await client.start();
  await ready;
  return client;
}
