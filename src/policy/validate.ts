// Checks parsed policy files against the published JSON Schema and against each other,
// reporting every problem at once, each with its file, line and column.

import type { ErrorObject, ValidateFunction } from 'ajv';
import { validate as generatedPolicySchema } from './policy-schema.generated.js';
import { positionOf, type DocumentPath, type PolicyFile } from './load.js';
import { currentVersionOf, parsePlanRef } from './plan-versions.js';
import { UNLIMITED, type FeatureType, type PolicyIssue, type SourcePosition, type ValueConstraints } from './types.js';

/** A feature or plan entry that passed validation, with the file it came from. */
export interface PolicyEntry<T> {
  readonly key: string;
  readonly spec: T;
  readonly file: PolicyFile;
}

/** Raw feature and plan entries merged from every file, in load order. */
export interface MergedPolicy extends PolicyEntries {
  readonly features: readonly PolicyEntry<Record<string, unknown>>[];
  readonly plans: readonly PolicyEntry<Record<string, unknown>>[];
  readonly addons: readonly PolicyEntry<Record<string, unknown>>[];
  /** The top-level `billing` section, from the one file that has it. */
  readonly billing?: PolicyEntry<Record<string, unknown>>;
}

/** What compiling needs of a validated policy, as plain data: keys, specs and the files' names. */
export interface PolicyEntries {
  readonly features: readonly PlainEntry[];
  readonly plans: readonly PlainEntry[];
  /** Add-ons (absent from entries made before add-ons existed). */
  readonly addons?: readonly PlainEntry[];
  /** The top-level `billing` section, when the policy has one. */
  readonly billing?: PlainEntry;
}

interface PlainEntry {
  readonly key: string;
  readonly spec: Record<string, unknown>;
  readonly file: { readonly file: string };
  /**
   * For plans: where each version (`"2"`) and each of its own values (`"2:can_use_webhooks"`)
   * stands, so that a refused reload can point at them.
   */
  readonly positions?: Readonly<Record<string, SourcePosition>>;
}

/**
 * The policy file schema, compiled ahead of time (scripts/generate-policy-validator.mjs, Ajv's
 * standalone code with the options this module used to compile it with at run time): compiling
 * it was ~0.15 s of every start.
 */
function policySchema(): ValidateFunction {
  return generatedPolicySchema as ValidateFunction;
}

const FEATURE_PROPERTIES = [
  'name',
  'description',
  'type',
  'default',
  'upgradeMessage',
  'values',
  'rollout',
  'integer',
  'minimum',
  'maximum',
  'unit',
  'period',
  'reset',
];
const NUMBER_CONSTRAINTS = ['integer', 'minimum', 'maximum'] as const;
const METER_PROPERTIES = ['unit', 'period', 'reset'] as const;

/** The largest allowance a meter may have: usage counts stay exact integers in both databases. */
export const MAX_METER_ALLOWANCE = 1_000_000_000_000;
const PLAN_PROPERTIES = ['name', 'description', 'extends', 'version', 'features', 'versions', 'billing'];
const PLAN_VERSION_PROPERTIES = ['extends', 'features'];
const TOP_PROPERTIES = ['features', 'plans', 'addons', 'billing'];
const ADDON_PROPERTIES = ['name', 'description', 'availableOn', 'features', 'billing'];
const BILLING_PROPERTIES = ['fallbackPlan', 'gracePeriodDays'];

/** Checks one file's shape against the JSON Schema. */
export function validateFileSchema(file: PolicyFile): PolicyIssue[] {
  const validate = policySchema();
  if (validate(file.content)) return [];
  return (validate.errors ?? [])
    .filter((error) => error.keyword !== 'propertyNames' && error.keyword !== 'if') // wrappers of the errors that follow
    .filter((error) => !isNonFiniteValue(file, error))
    .map((error) => schemaIssue(file, error));
}

/**
 * `.inf` and `.nan` are YAML numbers that JSON Schema does not count as numbers. Its "must be a
 * boolean or number or string" would be misleading; the semantic check says what is wrong
 * ("must be a finite number", or the feature's type) at the same position.
 */
function isNonFiniteValue(file: PolicyFile, error: ErrorObject): boolean {
  if (error.keyword !== 'type' || error.schemaPath !== '#/definitions/value/type') return false;
  let value: unknown = file.content;
  for (const segment of pointerToPath(error.instancePath)) value = isRecord(value) ? value[segment] : undefined;
  return typeof value === 'number' && !Number.isFinite(value);
}

function schemaIssue(file: PolicyFile, error: ErrorObject): PolicyIssue {
  const path = pointerToPath(error.instancePath);
  const where = (p: DocumentPath, at: 'key' | 'value' = 'value'): SourcePosition => positionOf(file, p, at);
  const label = path.length > 0 ? `${path.join('.')}: ` : '';
  const params = error.params as Record<string, unknown>;
  if (error.propertyName !== undefined) {
    return {
      ...where([...path, error.propertyName], 'key'),
      message: `${label}invalid key "${error.propertyName}": keys are lower-case letters, digits and "_" (for example can_use_webhooks)`,
    };
  }
  switch (error.keyword) {
    case 'additionalProperties': {
      const property = String(params.additionalProperty);
      const known =
        path.length === 0
          ? TOP_PROPERTIES
          : path[0] === 'features'
            ? FEATURE_PROPERTIES
            : path[0] === 'billing'
              ? BILLING_PROPERTIES
              : path[0] === 'addons' && path.length === 2
                ? ADDON_PROPERTIES
                : path[2] === 'versions'
                  ? PLAN_VERSION_PROPERTIES
                  : PLAN_PROPERTIES;
      const hint = closest(property, known);
      return {
        ...where([...path, property], 'key'),
        message: `${label}unknown property "${property}"${hint ? ` (did you mean "${hint}"?)` : ''}`,
      };
    }
    case 'required':
      return {
        ...where(path, 'key'),
        message: `${label}missing required property "${String(params.missingProperty)}"`,
      };
    case 'minLength':
      if (params.limit === 1) return { ...where(path), message: `${label}must not be empty` };
      return { ...where(path), message: `${label}${error.message ?? 'is too short'}` };
    case 'minProperties':
      return {
        ...where(path),
        message: path.length === 0 ? 'a policy file needs "features" or "plans"' : `${label}must not be empty`,
      };
    case 'enum':
      return {
        ...where(path),
        message: `${label}must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'type': {
      const types = Array.isArray(params.type) ? params.type.join(' or ') : String(params.type);
      return { ...where(path), message: `${label}must be ${types === 'object' ? 'a mapping' : `a ${types}`}` };
    }
    default:
      return { ...where(path), message: `${label}${error.message ?? 'is invalid'}` };
  }
}

/** Options of {@link validateSemantics}. */
export interface SemanticOptions {
  /**
   * Some policy file could not be parsed, so what it defines is unknown: a plan may name a
   * feature or plan defined there. Unknown-feature and unknown-plan references are then not
   * reported; they would be false alarms hiding the real error (which the parser reports).
   */
  readonly incomplete?: boolean;
}

/** Checks what no schema can: references between features and plans across all files. */
export function validateSemantics(
  files: readonly PolicyFile[],
  options: SemanticOptions = {},
): { issues: PolicyIssue[]; merged: MergedPolicy } {
  const checkReferences = options.incomplete !== true;
  const issues: PolicyIssue[] = [];
  const features = collectEntries(files, 'features', 'feature', issues);
  const plans = collectEntries(files, 'plans', 'plan', issues);
  const addons = collectEntries(files, 'addons', 'add-on', issues);
  const featureTypes = new Map<string, FeatureType | undefined>();
  const featureConstraints = new Map<string, ValueConstraints>();

  for (const { key, spec, file } of features) {
    const type = isFeatureType(spec.type) ? spec.type : undefined;
    featureTypes.set(key, type);
    const values = type === 'string' && Array.isArray(spec.values) ? (spec.values as string[]) : undefined;
    const constraints: ValueConstraints =
      type === 'number'
        ? {
            integer: spec.integer === true,
            minimum: typeof spec.minimum === 'number' ? spec.minimum : undefined,
            maximum: typeof spec.maximum === 'number' ? spec.maximum : undefined,
          }
        : { values };
    featureConstraints.set(key, constraints);
    if (spec.values !== undefined && type !== undefined && type !== 'string') {
      issues.push({
        ...positionOf(file, ['features', key, 'values'], 'key'),
        message: `features.${key}.values: only string features may list values`,
      });
    }
    if (type !== undefined && type !== 'meter') {
      for (const property of METER_PROPERTIES) {
        if (spec[property] === undefined) continue;
        issues.push({
          ...positionOf(file, ['features', key, property], 'key'),
          message: `features.${key}.${property}: only meter features have a ${property}`,
        });
      }
    }
    for (const property of NUMBER_CONSTRAINTS) {
      if (spec[property] !== undefined && type !== undefined && type !== 'number') {
        issues.push({
          ...positionOf(file, ['features', key, property], 'key'),
          message: `features.${key}.${property}: only number features may declare ${property}`,
        });
      }
    }
    if (
      constraints.minimum !== undefined &&
      constraints.maximum !== undefined &&
      constraints.minimum > constraints.maximum
    ) {
      issues.push({
        ...positionOf(file, ['features', key, 'maximum']),
        message: `features.${key}.maximum: must not be below minimum ${constraints.minimum}`,
      });
    }
    if (type && spec.default !== undefined) {
      const problem = valueProblem(spec.default, type, constraints);
      if (problem)
        issues.push({
          ...positionOf(file, ['features', key, 'default']),
          message: `features.${key}.default: ${problem}`,
        });
    }
  }

  const planKeys = new Set(plans.map((plan) => plan.key));
  const planVersions = new Map(plans.map(({ key, spec }) => [key, definedVersions(spec)]));
  for (const { key, spec, file } of plans) {
    const current = currentVersionOf(spec);
    if (isRecord(spec.versions)) {
      for (const number of Object.keys(spec.versions)) {
        if (!/^[1-9][0-9]*$/.test(number) || Number(number) < current) continue; // the schema reports a bad key
        issues.push({
          ...positionOf(file, ['plans', key, 'versions', number], 'key'),
          message:
            Number(number) === current
              ? `plans.${key}.versions.${number}: version ${number} is the plan's current version: its values are the plan's "features"`
              : `plans.${key}.versions.${number}: an earlier version must be below the plan's current version ${current} ("version")`,
        });
      }
    }
    for (const source of rawVersionSources(spec)) {
      const at = ['plans', key, ...source.path];
      // An inherited `extends` is checked once, where the plan writes it.
      if (checkReferences && source.extends !== undefined && source.ownExtends) {
        const ref = parsePlanRef(source.extends);
        const extendsPath = [...at.slice(0, -1), 'extends'];
        const versions = planVersions.get(ref.plan);
        if (!versions) {
          issues.push({
            ...positionOf(file, extendsPath),
            message: `${extendsPath.join('.')}: unknown plan "${ref.plan}"${hintFor(ref.plan, planKeys)}`,
          });
        } else if (ref.version !== undefined && !versions.includes(ref.version)) {
          issues.push({
            ...positionOf(file, extendsPath),
            message: `${extendsPath.join('.')}: plan "${ref.plan}" has no version ${ref.version} (it has ${versions.join(', ')})`,
          });
        }
      }
      for (const [feature, value] of Object.entries(source.features)) {
        if (!featureTypes.has(feature)) {
          if (!checkReferences) continue;
          issues.push({
            ...positionOf(file, [...at, feature], 'key'),
            message: `${at.join('.')}: unknown feature "${feature}"${hintFor(feature, featureTypes.keys())}`,
          });
          continue;
        }
        const type = featureTypes.get(feature);
        const problem = type ? valueProblem(value, type, featureConstraints.get(feature)) : undefined;
        if (problem)
          issues.push({
            ...positionOf(file, [...at, feature]),
            message: `${at.join('.')}.${feature}: ${problem}`,
          });
      }
    }
  }
  issues.push(...extendsCycles(plans));
  if (checkReferences) issues.push(...addonIssues(addons, planKeys, featureTypes, featureConstraints));
  const billing = collectBilling(files, issues);
  issues.push(
    ...billingIssues(
      [
        ...plans.map((entry) => ({ ...entry, section: 'plans' as const })),
        ...addons.map((entry) => ({ ...entry, section: 'addons' as const })),
      ],
      billing,
      planKeys,
      checkReferences,
    ),
  );
  return { issues, merged: { features, plans, addons, ...(billing ? { billing } : {}) } };
}

/**
 * An add-on names plans that exist, and gives per unit only what can add up: `true` for a
 * boolean, a positive number for a number or a meter (or `unlimited`); a string feature has no order to add to.
 */
function addonIssues(
  addons: readonly PolicyEntry<Record<string, unknown>>[],
  planKeys: ReadonlySet<string>,
  featureTypes: ReadonlyMap<string, FeatureType | undefined>,
  featureConstraints: ReadonlyMap<string, ValueConstraints>,
): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  for (const { key, spec, file } of addons) {
    if (Array.isArray(spec.availableOn)) {
      spec.availableOn.forEach((plan: unknown, index) => {
        if (typeof plan !== 'string' || planKeys.has(plan)) return;
        issues.push({
          ...positionOf(file, ['addons', key, 'availableOn', index]),
          message: `addons.${key}.availableOn: unknown plan "${plan}"${hintFor(plan, planKeys)}`,
        });
      });
    }
    const values = isRecord(spec.features) ? spec.features : {};
    for (const [feature, value] of Object.entries(values)) {
      const at = `addons.${key}.features`;
      if (!featureTypes.has(feature)) {
        issues.push({
          ...positionOf(file, ['addons', key, 'features', feature], 'key'),
          message: `${at}: unknown feature "${feature}"${hintFor(feature, featureTypes.keys())}`,
        });
        continue;
      }
      const type = featureTypes.get(feature);
      const problem = type === undefined ? undefined : addonValueProblem(value, type, featureConstraints.get(feature));
      if (problem)
        issues.push({
          ...positionOf(file, ['addons', key, 'features', feature]),
          message: `${at}.${feature}: ${problem}`,
        });
    }
  }
  return issues;
}

function addonValueProblem(
  value: unknown,
  type: FeatureType,
  constraints: ValueConstraints | undefined,
): string | undefined {
  if (type === 'string') return 'an add-on cannot give a string feature (string values have no order to add to)';
  if (type === 'boolean')
    return value === true ? undefined : `must be true: an add-on grants a boolean feature (got ${describe(value)})`;
  if (type === 'meter' && value === UNLIMITED) return undefined;
  if (typeof value !== 'number' || !(value > 0))
    return `must be a number above 0: it is added per unit of quantity (got ${describe(value)})`;
  return type === 'meter'
    ? valueProblem(value, 'meter')
    : valueProblem(value, 'number', { integer: constraints?.integer });
}

/** The one `billing` section of the policy; a second one is an issue. */
function collectBilling(
  files: readonly PolicyFile[],
  issues: PolicyIssue[],
): PolicyEntry<Record<string, unknown>> | undefined {
  let found: PolicyEntry<Record<string, unknown>> | undefined;
  for (const file of files) {
    const content = file.content;
    if (!isRecord(content) || !isRecord(content.billing)) continue;
    if (found) {
      const first = positionOf(found.file, ['billing'], 'key');
      issues.push({
        ...positionOf(file, ['billing'], 'key'),
        message: `billing: the billing section is already defined at ${first.file}:${first.line}:${first.column}`,
      });
      continue;
    }
    found = { key: 'billing', spec: content.billing, file };
  }
  return found;
}

/** A price maps to one plan or add-on only; the fallback plan exists; prices need a billing section. */
function billingIssues(
  entries: readonly (PolicyEntry<Record<string, unknown>> & { readonly section: 'plans' | 'addons' })[],
  billing: PolicyEntry<Record<string, unknown>> | undefined,
  planKeys: ReadonlySet<string>,
  checkReferences: boolean,
): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const owners = new Map<string, { section: 'plans' | 'addons'; key: string; file: PolicyFile; index: number }>();
  let firstPriced: (typeof entries)[number] | undefined;
  const noun = (section: 'plans' | 'addons') => (section === 'plans' ? 'plan' : 'add-on');
  for (const entry of entries) {
    const stripe =
      isRecord(entry.spec.billing) && isRecord(entry.spec.billing.stripe) ? entry.spec.billing.stripe : undefined;
    if (!stripe || !Array.isArray(stripe.prices)) continue;
    firstPriced ??= entry;
    stripe.prices.forEach((price: unknown, index) => {
      if (typeof price !== 'string') return;
      const owner = owners.get(price);
      if (!owner) {
        owners.set(price, { section: entry.section, key: entry.key, file: entry.file, index });
        return;
      }
      if (owner.key === entry.key && owner.section === entry.section) return; // uniqueItems reports a repeat within one entry
      const first = positionOf(owner.file, [owner.section, owner.key, 'billing', 'stripe', 'prices', owner.index]);
      const rule =
        owner.section === 'plans' && entry.section === 'plans'
          ? 'a price maps to one plan only'
          : 'a price maps to one plan or add-on only';
      issues.push({
        ...positionOf(entry.file, [entry.section, entry.key, 'billing', 'stripe', 'prices', index]),
        message: `${entry.section}.${entry.key}.billing.stripe.prices: price "${price}" already maps to ${noun(owner.section)} "${owner.key}" at ${first.file}:${first.line}:${first.column}; ${rule}`,
      });
    });
  }
  if (billing) {
    const fallback = billing.spec.fallbackPlan;
    if (checkReferences && typeof fallback === 'string' && !planKeys.has(fallback)) {
      issues.push({
        ...positionOf(billing.file, ['billing', 'fallbackPlan']),
        message: `billing.fallbackPlan: unknown plan "${fallback}"${hintFor(fallback, planKeys)}`,
      });
    }
  } else if (firstPriced && checkReferences) {
    const { section, key, file } = firstPriced;
    issues.push({
      ...positionOf(file, [section, key, 'billing'], 'key'),
      message: `${section}.${key}.billing: ${section === 'plans' ? 'plans' : 'add-ons'} map billing prices, so the policy needs a top-level "billing: { fallbackPlan: … }" for tenants whose subscription ended`,
    });
  }
  return issues;
}

/**
 * Why a value does not fit a feature (its type, allowed strings, whole numbers, bounds), or
 * undefined when it fits. The one check for defaults, plan values and overrides alike.
 */
export function valueProblem(
  value: unknown,
  type: FeatureType,
  constraints: ValueConstraints = {},
): string | undefined {
  if (type === 'meter') {
    if (value === UNLIMITED) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_METER_ALLOWANCE) {
      return `must be a whole number from 0 to ${MAX_METER_ALLOWANCE} or "${UNLIMITED}", as the feature is a meter (got ${describe(value)})`;
    }
    return undefined;
  }
  if (type === 'number') {
    if (typeof value !== 'number')
      return `must be a number, as the feature's type is "number" (got ${describe(value)})`;
    if (!Number.isFinite(value)) return 'must be a finite number';
    // Beyond 2^53 a "whole number" is already rounded: 2^53 + 1 arrives as 2^53.
    if (constraints.integer && !Number.isSafeInteger(value))
      return `must be a whole number (at most ${Number.MAX_SAFE_INTEGER}), as the feature declares integer (got ${value})`;
    if (constraints.minimum !== undefined && value < constraints.minimum)
      return `must be at least ${constraints.minimum} (got ${value})`;
    if (constraints.maximum !== undefined && value > constraints.maximum)
      return `must be at most ${constraints.maximum} (got ${value})`;
    return undefined;
  }
  if (typeof value !== type) return `must be a ${type}, as the feature's type is "${type}" (got ${describe(value)})`;
  const allowed = constraints.values;
  if (allowed && !allowed.includes(value as string))
    return `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')} (got ${JSON.stringify(value)})`;
  return undefined;
}

function collectEntries(
  files: readonly PolicyFile[],
  section: 'features' | 'plans' | 'addons',
  noun: string,
  issues: PolicyIssue[],
): PolicyEntry<Record<string, unknown>>[] {
  const seen = new Map<string, PolicyFile>();
  const entries: PolicyEntry<Record<string, unknown>>[] = [];
  for (const file of files) {
    const content = file.content;
    if (!isRecord(content) || !isRecord(content[section])) continue;
    for (const [key, spec] of Object.entries(content[section])) {
      const firstFile = seen.get(key);
      if (firstFile) {
        const first = positionOf(firstFile, [section, key], 'key');
        issues.push({
          ...positionOf(file, [section, key], 'key'),
          message: `${section}.${key}: ${noun} "${key}" is already defined at ${first.file}:${first.line}:${first.column}`,
        });
        continue;
      }
      seen.set(key, file);
      if (isRecord(spec)) entries.push({ key, spec, file });
    }
  }
  return entries;
}

/** A plan version's `extends` and own values, read defensively (the schema reports wrong shapes). */
function rawVersionSources(
  spec: Record<string, unknown>,
): { extends: string | undefined; ownExtends: boolean; features: Record<string, unknown>; path: string[] }[] {
  const base = typeof spec.extends === 'string' ? spec.extends : undefined;
  const sources = [
    { extends: base, ownExtends: true, features: isRecord(spec.features) ? spec.features : {}, path: ['features'] },
  ];
  const current = currentVersionOf(spec);
  if (!isRecord(spec.versions)) return sources;
  for (const [number, version] of Object.entries(spec.versions)) {
    if (!isRecord(version) || Number(number) === current) continue;
    sources.push({
      extends: typeof version.extends === 'string' ? version.extends : base,
      ownExtends: typeof version.extends === 'string',
      features: isRecord(version.features) ? version.features : {},
      path: ['versions', number, 'features'],
    });
  }
  return sources;
}

/** The version numbers a plan spec defines: its current one and every earlier one. */
function definedVersions(spec: Record<string, unknown>): number[] {
  const numbers = new Set([currentVersionOf(spec)]);
  if (isRecord(spec.versions))
    for (const number of Object.keys(spec.versions)) if (/^[1-9][0-9]*$/.test(number)) numbers.add(Number(number));
  return [...numbers].sort((a, b) => a - b);
}

/** A cycle through `extends`, version by version (`pro@1 → free@1` is no cycle even if `free@2` extends `pro`). */
function extendsCycles(plans: readonly PolicyEntry<Record<string, unknown>>[]): PolicyIssue[] {
  const specs = new Map(plans.map((plan) => [plan.key, plan]));
  const parentOf = (node: string): string | undefined => {
    const [plan, number] = node.split('@') as [string, string];
    const spec = specs.get(plan)?.spec;
    if (!spec) return undefined;
    const source = rawVersionSources(spec).find(
      (candidate) =>
        (candidate.path[0] === 'features' ? currentVersionOf(spec) : Number(candidate.path[1])) === Number(number),
    );
    if (source?.extends === undefined) return undefined;
    const ref = parsePlanRef(source.extends);
    const target = specs.get(ref.plan)?.spec;
    return target ? `${ref.plan}@${ref.version ?? currentVersionOf(target)}` : undefined;
  };
  const reported = new Set<string>();
  const issues: PolicyIssue[] = [];
  for (const { key, spec, file } of plans) {
    for (const source of rawVersionSources(spec)) {
      const number = source.path[0] === 'features' ? currentVersionOf(spec) : Number(source.path[1]);
      const start = `${key}@${number}`;
      const path: string[] = [];
      let current: string | undefined = start;
      // Bounded: a chain longer than every version there is must repeat one.
      while (current !== undefined && path.length <= plans.length * 8 && !path.includes(current)) {
        path.push(current);
        current = parentOf(current);
      }
      if (current === undefined || current !== start || reported.has(start)) continue;
      for (const member of path) reported.add(member);
      const where = ['plans', key, ...source.path.slice(0, -1), 'extends'];
      // Plans without versions read as before: `a → b → a`.
      const versioned = path.some((node) => isRecord(specs.get(node.split('@')[0] as string)?.spec.versions));
      const shown = [...path, start].map((node) => (versioned ? node : node.split('@')[0]));
      issues.push({
        ...positionOf(file, where),
        message: `${where.join('.')}: extends cycle ${shown.join(' → ')}`,
      });
    }
  }
  return issues;
}

function pointerToPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFeatureType(value: unknown): value is FeatureType {
  return value === 'boolean' || value === 'number' || value === 'string' || value === 'meter';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  // JSON has no Infinity or NaN (JSON.stringify would say "null").
  if (typeof value === 'number' && !Number.isFinite(value)) return `number ${String(value)}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function hintFor(name: string, candidates: Iterable<string>): string {
  const hint = closest(name, [...candidates]);
  return hint ? ` (did you mean "${hint}"?)` : '';
}

/** The candidate within a small edit distance of `name`, for "did you mean" hints. */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Number.POSITIVE_INFINITY;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? Number.POSITIVE_INFINITY;
}
