// The policy in force, and a dry run of a proposed one: the same messages as `entitle validate`
// and, when it is valid, which tenants' decisions it would change.

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { policyImpactOfPages } from '../entitlements/policy-impact.js';
import { storedVersionCounts, versionLosses } from '../entitlements/version-guard.js';
import { InvalidInputError } from '../errors.js';
import { listPolicyFiles } from '../policy/load.js';
import { formatIssue } from '../policy/read-policy.js';
import type { FeatureDefinition, PlanDefinition, PolicyIssue, PolicySnapshot } from '../policy/types.js';
import {
  ADMIN,
  ErrorBody,
  type FeatureDefinitionBody,
  LIMITED_ERRORS,
  type PlanDefinitionBody,
  PolicyBody,
  PolicyImpactBody,
  PolicyIssueBody,
} from './admin-schemas.js';
import type { PolicyReader } from '../policy/policy-reader.js';
import type { PolicyWatcher } from '../policy/watch.js';
import type { TenantDirectory } from '../entitlements/tenant-directory.js';
import type { TenantRepository } from '../store/store.js';

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'text/plain'];
const MAX_POLICY_BYTES = 2 * 1024 * 1024;

const PolicyFilesBody = Type.Object(
  {
    files: Type.Array(
      Type.Object({ name: Type.String({ maxLength: 255 }), text: Type.String() }, { additionalProperties: false }),
      {
        minItems: 1,
        maxItems: 100,
        description: 'the whole proposed policy, file by file',
      },
    ),
  },
  { additionalProperties: false },
);
const YamlText = Type.String({ description: 'one policy file in YAML' });

const ValidateQuery = Type.Object(
  {
    file: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9._-]+\\.ya?ml$',
        description: 'replace this file of the current policy and check the result',
      }),
    ),
  },
  { additionalProperties: false },
);

/** What the policy routes use. */
export interface PolicyRoutesOptions {
  readonly policy: Pick<PolicyWatcher, 'snapshot' | 'status'>;
  /** Every tenant, read in pages (the impact of a proposed policy). */
  readonly tenants: Pick<TenantDirectory, 'pages'>;
  /** How many tenants are on each plan version (what a reload would refuse). */
  readonly store: { readonly tenants: Pick<TenantRepository, 'versionCounts'> };
  /** The policy files a proposed change is checked against. */
  readonly policyDirectory: string;
  readonly clock: () => number;
  /** Parses proposed policies in worker threads. */
  readonly reader: Pick<PolicyReader, 'readTexts'>;
}

export const policyRoutes: FastifyPluginAsyncTypebox<PolicyRoutesOptions> = async (fastify, deps) => {
  // A YAML body arrives as text; only this plugin's routes see the parser.
  fastify.addContentTypeParser(YAML_TYPES, { parseAs: 'string', bodyLimit: MAX_POLICY_BYTES }, (_request, body, done) =>
    done(null, body),
  );
  const tags = ['policy'];

  fastify.get(
    '/policy',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'The policy in force: version, features, plans, add-ons, last load error',
        response: { 200: PolicyBody, ...LIMITED_ERRORS },
      },
    },
    async () => {
      const { snapshot } = deps.policy;
      const status = deps.policy.status;
      return {
        ...status,
        files: snapshot.files.map((file) => basename(file)),
        lastError: status.lastError ? { at: status.lastError.at, issues: status.lastError.issues.map(withText) } : null,
        features: [...snapshot.features.values()].map(featureBody),
        plans: [...snapshot.plans.values()].map(planBody),
        addons: [...snapshot.addons.values()].map((addon) => ({
          key: addon.key,
          name: addon.name,
          description: addon.description,
          availableOn: addon.availableOn ? [...addon.availableOn] : null,
          values: Object.fromEntries(addon.values),
        })),
      };
    },
  );

  fastify.post(
    '/policy/validate',
    {
      config: ADMIN,
      schema: {
        tags,
        summary: 'Validate a policy without applying it',
        description:
          'Body: one YAML file (Content-Type application/yaml); with ?file=NAME it replaces that file of the current policy, otherwise it is the whole policy. ' +
          'Or JSON {"files":[{"name","text"}]}: the whole policy. Answers 200 with {valid:true, impact} or 422 with {valid:false, issues}.',
        querystring: ValidateQuery,
        body: {
          content: {
            'application/json': { schema: PolicyFilesBody },
            ...Object.fromEntries(YAML_TYPES.map((type) => [type, { schema: YamlText }])),
          },
        },
        response: {
          200: Type.Object({
            valid: Type.Literal(true),
            version: Type.String(),
            impact: PolicyImpactBody,
            reloadRefusals: Type.Array(PolicyIssueBody, {
              description:
                'what a reload of this policy would refuse: a plan version tenants are on losing something (empty: none)',
            }),
          }),
          400: ErrorBody,
          422: Type.Union(
            [Type.Object({ valid: Type.Literal(false), issues: Type.Array(PolicyIssueBody) }), ErrorBody],
            { description: 'the policy is invalid (issues), or too large to validate (ENT_ERR_POLICY_TOO_LARGE)' },
          ),
          503: ErrorBody,
          ...LIMITED_ERRORS,
        },
      },
    },
    async (request, reply) => {
      const texts = await proposedTexts(deps, request.body, request.query.file);
      // Parsed in a worker thread: megabytes of YAML take seconds, which must not stall other requests.
      const result = await deps.reader.readTexts(texts);
      if (!result.ok) return reply.status(422).send({ valid: false as const, issues: result.issues.map(withText) });
      // What a reload would refuse: a plan version tenants are on losing something.
      const losses = versionLosses(
        deps.policy.snapshot,
        result.snapshot,
        await storedVersionCounts(deps.store.tenants),
      );
      return {
        valid: true as const,
        version: result.snapshot.version,
        impact: await impactOf(deps, result.snapshot),
        reloadRefusals: losses.map(withText),
      };
    },
  );
};

// Absent optional fields are left out rather than sent as undefined; other fields pass through.
function featureBody(feature: FeatureDefinition): Static<typeof FeatureDefinitionBody> {
  const { values, rollout, requiredPlan, ...rest } = feature;
  return {
    ...rest,
    ...(values ? { values: [...values] } : {}),
    ...(rollout ? { rollout } : {}),
    ...(requiredPlan !== undefined ? { requiredPlan } : {}),
  };
}

function planBody(plan: PlanDefinition): Static<typeof PlanDefinitionBody> {
  const { extends: parent, chain, values, versions, ...rest } = plan;
  return {
    ...rest,
    versions: [...versions.keys()],
    ...(parent !== undefined ? { extends: parent } : {}),
    chain: [...chain],
    values: Object.fromEntries([...values].map(([key, { value, definedBy }]) => [key, { value, definedBy }])),
  };
}

function withText(issue: PolicyIssue) {
  return { ...issue, text: formatIssue(issue) };
}

/** The impact as its response schema types it (the same shape, with mutable arrays). */
async function impactOf(deps: PolicyRoutesOptions, proposed: PolicySnapshot): Promise<Static<typeof PolicyImpactBody>> {
  return (await policyImpactOfPages(deps.policy.snapshot, proposed, deps.tenants.pages(), deps.clock())) as Static<
    typeof PolicyImpactBody
  >;
}

async function proposedTexts(
  deps: PolicyRoutesOptions,
  body: unknown,
  file: string | undefined,
): Promise<{ file: string; text: string }[]> {
  if (typeof body === 'string') {
    if (body.trim() === '') throw new InvalidInputError('body: empty; send the YAML of a policy file');
    if (file === undefined) return [{ file: 'request.yaml', text: body }];
    const current = await currentTexts(deps.policyDirectory);
    return [...current.filter((entry) => entry.file !== file), { file, text: body }].sort((a, b) =>
      a.file.localeCompare(b.file),
    );
  }
  const files = (body as { files?: unknown } | null)?.files;
  if (!Array.isArray(files) || files.length === 0)
    throw new InvalidInputError(
      'body.files: required, a non-empty array of {name, text} (or send YAML with Content-Type application/yaml)',
    );
  return files.map((entry: unknown, index) => {
    const { name, text } = (entry ?? {}) as { name?: unknown; text?: unknown };
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+\.ya?ml$/.test(name))
      throw new InvalidInputError(`body.files[${index}].name: must be a file name ending in .yaml or .yml`);
    if (typeof text !== 'string') throw new InvalidInputError(`body.files[${index}].text: must be a string`);
    return { file: name, text };
  });
}

async function currentTexts(dir: string): Promise<{ file: string; text: string }[]> {
  const paths = await listPolicyFiles(dir);
  return Promise.all(paths.map(async (path) => ({ file: basename(path), text: await readFile(path, 'utf8') })));
}
