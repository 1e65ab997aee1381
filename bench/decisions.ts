// Decisions without HTTP: our provider called directly against @openfeature/flagd-core and
// unleash-client on the same decisions, and the OpenFeature client with our provider against
// the same client with a constant provider (the SDK's own floor).

import { FlagdCore } from '@openfeature/flagd-core';
import { OpenFeature, type EvaluationContext, type Provider, type ResolutionDetails } from '@openfeature/server-sdk';
import type { Unleash } from 'unleash-client';
import { decide } from '../src/entitlements/decide.js';
import { EntitleProvider } from '../src/entitlements/entitle-provider.js';
import type { TenantDirectory } from '../src/entitlements/tenant-directory.js';
import type { FeatureType } from '../src/policy/types.js';
import { TestPolicySource } from '../test/support/policy.js';
import { compare, ns, ratio, type Row } from './support/measure.js';
import { flagdConfiguration, startUnleash } from './support/peers.js';
import {
  buildWorkload,
  compile,
  directoriesOf,
  random,
  versionPolicyText,
  versionTenants,
  type Workload,
} from './support/workload.js';

/** One question, with each contender's context built beforehand: building it is the caller's cost, not the resolver's. */
interface Question {
  readonly feature: string;
  readonly type: FeatureType;
  /** Ours: the tenant only; the provider finds the plan and overrides itself. */
  readonly ours: EvaluationContext;
  /** flagd: the caller also passes the tenant's plan. */
  readonly flagd: EvaluationContext;
  /** Unleash: the same, as context properties. */
  readonly unleash: { properties: { tenantId: string; plan: string } };
}

export async function benchDecisions(rows: Row[]): Promise<void> {
  const workload = await buildWorkload({ tenants: 10_000, features: 50, plans: 4, overrideShare: 0.1 });
  const provider = new EntitleProvider({ policy: new TestPolicySource(workload.policy), tenants: workload.directory });
  const all = questionsOf(workload, workload.questions);
  // Built next, before the peers allocate: the directories are loaded as a server loads its one.
  const { versioned, plainTwin } = await versionedProviders(workload, all);
  const n = all.length;
  const at = (i: number) => all[i % n] as Question;
  // The two synchronous cores on their own, first, before the peers allocate: no garbage
  // collection of theirs lands in these rounds, and more rounds settle a ratio close to 1. The
  // questions carry only what these two read: the peers' contexts beside them would stream
  // through the cache too, crowding out the tenants the comparison is about.
  const lean = workload.questions.map(({ tenantId, feature }) => ({
    feature,
    type: workload.policy.features.get(feature)?.type as FeatureType,
    context: { tenantId, targetingKey: tenantId },
  }));
  const leanAt = (i: number) => lean[i % n] as (typeof lean)[number];
  const versions = await compare(
    n,
    {
      plain: (i) => {
        const q = leanAt(i);
        return plainTwin.resolve(q.feature, q.type, q.context);
      },
      versioned: (i) => {
        const q = leanAt(i);
        return versioned.resolve(q.feature, q.type, q.context);
      },
    },
    { rounds: 31 },
  );
  const flagd = new FlagdCore();
  flagd.setConfigurations(JSON.stringify(flagdConfiguration(workload)));
  const unleash = await startUnleash(workload);
  const booleans = questionsOf(workload, workload.booleanQuestions);
  checkSameAnswers(workload, flagd, unleash, all, booleans);

  const flagdResolve = (q: Question) =>
    q.type === 'boolean'
      ? flagd.resolveBooleanEvaluation(q.feature, false, q.flagd)
      : q.type === 'number'
        ? flagd.resolveNumberEvaluation(q.feature, 0, q.flagd)
        : flagd.resolveStringEvaluation(q.feature, '', q.flagd);
  const oursAsync = (q: Question) =>
    q.type === 'boolean'
      ? provider.resolveBooleanEvaluation(q.feature, false, q.ours)
      : q.type === 'number'
        ? provider.resolveNumberEvaluation(q.feature, 0, q.ours)
        : provider.resolveStringEvaluation(q.feature, '', q.ours);
  const resolve = await compare(n, {
    flagd: (i) => flagdResolve(at(i)),
    oursAsync: (i) => oursAsync(at(i)),
    // As a Provider must answer: in a promise (flagd's in-process provider returns Promise.resolve(core.resolve…)).
    flagdAsync: (i) => Promise.resolve(flagdResolve(at(i))),
    oursSync: (i) => {
      const q = at(i);
      return provider.resolve(q.feature, q.type, q.ours);
    },
    // The same questions against the policy with versions and add-ons (its own tenants).
    oursSyncVersioned: (i) => {
      const q = at(i);
      return versioned.resolve(q.feature, q.type, q.ours);
    },
  });
  const m = booleans.length;
  const bool = (i: number) => booleans[i % m] as Question;
  const onBooleans = await compare(m, {
    unleash: (i) => unleash.isEnabled(bool(i).feature, bool(i).unleash),
    oursAsync: (i) => provider.resolveBooleanEvaluation(bool(i).feature, false, bool(i).ours),
  });
  unleash.destroy();

  const section =
    'provider resolve (10,000 tenants, 50 features, 4 plans, 10% with overrides; median of 15 interleaved rounds)';
  const versionsSection =
    'versions and add-ons against the plain policy (same questions, directories loaded together; the two sync cores alone, median of 31 interleaved rounds)';
  const threeTimes = (name: string, ours: number, peer: number, peerName: string): Row => ({
    section,
    name,
    value: ns(ours),
    ratio: ratio(peer, ours),
    peer: `${peerName} (× faster)`,
    target: '≥ 3× faster',
    met: peer / ours >= 3,
    raw: { nsPerOp: ours },
  });
  // Like for like, twice: the synchronous cores, then both as a Provider must answer (a promise,
  // awaited: flagd's in-process provider wraps its core the same way).
  rows.push({
    section,
    name: '@openfeature/flagd-core resolve (plan rules + override lists)',
    value: ns(resolve.flagd.nsPerOp),
    raw: { ...resolve.flagd },
  });
  rows.push(
    threeTimes('Entitle provider resolve, sync core', resolve.oursSync.nsPerOp, resolve.flagd.nsPerOp, 'flagd-core'),
  );
  const versionedNs = resolve.oursSyncVersioned.nsPerOp;
  rows.push(
    threeTimes(
      'Entitle provider resolve, sync core, policy with versions and add-ons (30% on v1, 30% with add-ons)',
      versionedNs,
      resolve.flagd.nsPerOp,
      'flagd-core',
    ),
  );
  rows.push({
    section: versionsSection,
    name: 'Entitle sync core, plain policy',
    value: ns(versions.plain.nsPerOp),
    raw: { ...versions.plain },
  });
  rows.push({
    section: versionsSection,
    name: 'Entitle sync core, policy with versions and add-ons',
    value: ns(versions.versioned.nsPerOp),
    ratio: ratio(versions.plain.nsPerOp, versions.versioned.nsPerOp),
    peer: 'the plain policy (× its speed)',
    target: '≥ 0.9× (within 10%)',
    met: versions.plain.nsPerOp / versions.versioned.nsPerOp >= 0.9,
    raw: { ...versions.versioned },
  });
  rows.push({
    section,
    name: 'flagd-core resolve in a promise, awaited',
    value: ns(resolve.flagdAsync.nsPerOp),
    raw: { ...resolve.flagdAsync },
  });
  rows.push(
    threeTimes(
      'Entitle resolve*Evaluation, awaited (as the SDK calls it)',
      resolve.oursAsync.nsPerOp,
      resolve.flagdAsync.nsPerOp,
      'flagd-core in a promise',
    ),
  );
  // Not like for like (our promise against flagd's bare core), shown so that nothing is hidden.
  rows.push({
    section,
    name: 'Entitle resolve*Evaluation, awaited, vs flagd-core sync',
    value: ns(resolve.oursAsync.nsPerOp),
    ratio: ratio(resolve.flagd.nsPerOp, resolve.oursAsync.nsPerOp),
    peer: 'flagd-core, sync (× faster)',
    raw: { ...resolve.oursAsync },
  });
  rows.push({
    section,
    name: 'unleash-client isEnabled (plan IN + override lists), booleans',
    value: ns(onBooleans.unleash.nsPerOp),
    raw: { ...onBooleans.unleash },
  });
  rows.push({
    section,
    name: 'Entitle resolveBooleanEvaluation, awaited, booleans',
    value: ns(onBooleans.oursAsync.nsPerOp),
    ratio: ratio(onBooleans.unleash.nsPerOp, onBooleans.oursAsync.nsPerOp),
    peer: 'unleash-client, sync (× faster)',
    raw: { ...onBooleans.oursAsync },
  });

  await benchClient(rows, booleans, provider);
}

/**
 * A provider over the workload's tenants with pricing history: the policy with versions and
 * add-ons, some tenants on version 1, some holding add-ons. Checked to decide differently from
 * the plain policy through both (a bench of a policy that changes nothing would show nothing).
 * With it, its twin on the plain policy: the same tenants as they were, their directory loaded
 * together with the versioned one, a tenant of each in turn. Loaded one after the other, the
 * second directory was 1–4% slower with the same policy and tenants in both.
 */
async function versionedProviders(
  workload: Workload,
  questions: readonly Question[],
): Promise<{ versioned: EntitleProvider; plainTwin: EntitleProvider }> {
  const policy = compile(versionPolicyText(workload.policyText));
  const tenants = versionTenants(workload.tenants, policy, { oldShare: 0.3, addonShare: 0.3 }, random(7));
  const [directory, twinDirectory] = (await directoriesOf([tenants, workload.tenants])) as [
    TenantDirectory,
    TenantDirectory,
  ];
  const now = Date.now();
  const sources = { oldVersion: 0, addon: 0 };
  for (const q of questions.slice(0, 10_000)) {
    const decision = decide(policy, directory.get(q.ours.tenantId as string), q.feature, now);
    if (decision?.source === 'addon') sources.addon++;
    if (decision?.planVersion === 1 && decision.source === 'plan') sources.oldVersion++;
  }
  if (sources.addon === 0 || sources.oldVersion === 0)
    throw new Error(
      `the versioned workload decides nothing through add-ons or old versions: ${JSON.stringify(sources)}`,
    );
  return {
    versioned: new EntitleProvider({ policy: new TestPolicySource(policy), tenants: directory }),
    plainTwin: new EntitleProvider({ policy: new TestPolicySource(workload.policy), tenants: twinDirectory }),
  };
}

function questionsOf(workload: Workload, drawn: Workload['questions']): Question[] {
  return drawn.map(({ tenantId, feature }) => {
    const plan = workload.directory.get(tenantId)?.plan ?? '';
    return {
      feature,
      type: workload.policy.features.get(feature)?.type as FeatureType,
      ours: { tenantId, targetingKey: tenantId },
      flagd: { tenantId, plan, targetingKey: tenantId },
      unleash: { properties: { tenantId, plan } },
    };
  });
}

/** The same decisions first, on every question: a benchmark of different answers would measure nothing. */
function checkSameAnswers(
  workload: Workload,
  flagd: FlagdCore,
  unleash: Unleash,
  all: readonly Question[],
  booleans: readonly Question[],
): void {
  const now = Date.now();
  const expected = (q: Question) =>
    decide(workload.policy, workload.directory.get(q.ours.tenantId as string), q.feature, now)?.value;
  for (const q of all) {
    const got =
      q.type === 'boolean'
        ? flagd.resolveBooleanEvaluation(q.feature, false, q.flagd).value
        : q.type === 'number'
          ? flagd.resolveNumberEvaluation(q.feature, 0, q.flagd).value
          : flagd.resolveStringEvaluation(q.feature, '', q.flagd).value;
    if (got !== expected(q))
      throw new Error(
        `flagd disagrees on ${q.feature} for ${String(q.ours.tenantId)}: ${String(got)} ≠ ${String(expected(q))}`,
      );
  }
  for (const q of booleans) {
    if (unleash.isEnabled(q.feature, q.unleash) !== expected(q))
      throw new Error(`unleash disagrees on ${q.feature} for ${String(q.ours.tenantId)}`);
  }
}

async function benchClient(rows: Row[], booleans: readonly Question[], provider: EntitleProvider): Promise<void> {
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
  const m = booleans.length;
  const bool = (i: number) => booleans[i % m] as Question;
  // Short rounds, many of them, taking turns: the ratio is what matters and it is small.
  const timing = await compare(
    10_000,
    {
      floor: (i) => floor.getBooleanValue(bool(i).feature, false, bool(i).ours),
      ours: (i) => ours.getBooleanValue(bool(i).feature, false, bool(i).ours),
    },
    { rounds: 21 },
  );
  await OpenFeature.clearProviders();
  const section = 'OpenFeature client getBooleanValue (median of 21 interleaved rounds)';
  rows.push({
    section,
    name: 'client with a constant provider (SDK floor)',
    value: ns(timing.floor.nsPerOp),
    raw: { ...timing.floor },
  });
  rows.push({
    section,
    name: 'client with the Entitle provider',
    value: ns(timing.ours.nsPerOp),
    ratio: ratio(timing.ours.nsPerOp, timing.floor.nsPerOp),
    peer: 'constant provider',
    target: '≤ 1.15×',
    met: timing.ours.nsPerOp / timing.floor.nsPerOp <= 1.15,
    raw: { ...timing.ours },
  });
}
