// The layering rules `npm run lint` checks (.dependency-cruiser.cjs): the source keeps them, every
// folder of src/ has its place in them, and each rule really fails on the violation it names, run
// through dependency-cruiser with the configuration the CLI reads.

import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { cruise } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

interface Rule {
  readonly name: string;
}

/** The folders the rules order, bottom first: one `layer-<folder>` rule each, in LAYERS order. */
function layersOfConfig(): string[] {
  const config = createRequire(import.meta.url)(CONFIG) as { forbidden: readonly Rule[] };
  return config.forbidden
    .map((rule) => rule.name)
    .filter((name) => name.startsWith('layer-') && name !== 'layer-root')
    .map((name) => name.slice('layer-'.length));
}

interface Violation {
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string };
}

/** The violations dependency-cruiser reports for src/ under `cwd`, with the project's rules. */
async function violations(cwd: string): Promise<Violation[]> {
  // What `depcruise src --config .dependency-cruiser.cjs` does, in this process: the same rule set
  // and options read from the same file, the same tsconfig handed to the TypeScript extractor. A
  // fresh node per case spent most of its time loading dependency-cruiser and typescript again.
  const options = await extractDepcruiseOptions(CONFIG);
  const tsConfigFile = join(cwd, 'tsconfig.json');
  const result = await cruise(
    ['src'],
    { ...options, baseDir: cwd, tsConfig: { fileName: tsConfigFile } },
    {},
    { tsConfig: extractTSConfig(tsConfigFile) },
  );
  return (result.output as { summary: { violations: Violation[] } }).summary.violations;
}

const projects: string[] = [];
afterAll(() => {
  for (const dir of projects) rmSync(dir, { recursive: true, force: true });
});

/** A throwaway project: the given files under src/, and the repository's compiler settings. */
function project(files: Readonly<Record<string, string>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-layers-'));
  projects.push(dir);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), include: ['src'] }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const names = (found: readonly Violation[]) => found.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();

describe('layering', () => {
  it('holds in the source: no folder imports one above it at run time, no two folders name each other, the store knows no domain, its dialects stay apart', async () => {
    expect(names(await violations(ROOT))).toEqual([]);
  }, 120_000);

  it('gives every folder of src/ its place in the layer order, and names no folder that is gone', () => {
    const folders = readdirSync(join(ROOT, 'src'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect([...layersOfConfig()].sort()).toEqual(folders.sort());
  });

  it('orders billing, metrics and maintenance: each fails on an import from a folder above it', async () => {
    const dir = project({
      'src/billing/billing-command.ts': "import { program } from '../cli/main.js';\nexport const billing = program;\n",
      'src/cli/main.ts': 'export const program = 1;\n',
      'src/metrics/metrics.ts': "import { sync } from '../billing/sync.js';\nexport const metrics = sync;\n",
      'src/billing/sync.ts': 'export const sync = 1;\n',
      'src/maintenance/maintenance.ts': "import { purge } from '../store/purge.js';\nexport const task = purge;\n",
      'src/store/purge.ts': 'export const purge = 1;\n',
      'src/audit/retention.ts': "import { BACKLOG } from '../secrets/backlog.js';\nexport const retention = BACKLOG;\n",
      'src/secrets/backlog.ts': 'export const BACKLOG = 1;\n',
    });
    expect(names(await violations(dir))).toEqual([
      'layer-audit: src/audit/retention.ts → src/secrets/backlog.ts',
      'layer-billing: src/billing/billing-command.ts → src/cli/main.ts',
      'layer-maintenance: src/maintenance/maintenance.ts → src/store/purge.ts',
      'layer-metrics: src/metrics/metrics.ts → src/billing/sync.ts',
    ]);
  }, 120_000);

  it('fails on the store reaching the audit chain or billing, at run time or for a type', async () => {
    const dir = project({
      'src/store/store-context.ts':
        "import { chainHash } from '../audit/audit-chain.js';\nimport type { SubscriptionState } from '../billing/subscription.js';\nexport const append = (s: SubscriptionState) => chainHash(s.id);\n",
      'src/audit/audit-chain.ts': 'export const chainHash = (text: string) => text;\n',
      'src/billing/subscription.ts': 'export interface SubscriptionState { readonly id: string }\n',
    });
    expect(names(await violations(dir))).toEqual([
      'layer-store: src/store/store-context.ts → src/audit/audit-chain.ts',
      'store-knows-no-domain: src/store/store-context.ts → src/audit/audit-chain.ts',
      'store-knows-no-domain: src/store/store-context.ts → src/billing/subscription.ts',
    ]);
  }, 120_000);

  it('fails on two folders naming each other even when one side imports only a type', async () => {
    const dir = project({
      'src/http/health-routes.ts':
        "import type { TenantDirectory } from '../entitlements/tenant-directory.js';\nexport const size = (d: TenantDirectory) => d.size;\n",
      'src/entitlements/tenant-directory.ts':
        "import { ErrorBody } from '../http/schemas.js';\nexport interface TenantDirectory { readonly size: number }\nexport const body = ErrorBody;\n",
      'src/http/schemas.ts': 'export const ErrorBody = {};\n',
    });
    expect(names(await violations(dir))).toEqual([
      'no-folder-cycle: src/entitlements → src/http',
      'no-folder-cycle: src/http → src/entitlements',
    ]);
  }, 120_000);

  it('fails on two folders importing each other at run time, and accepts a type-only import upward', async () => {
    const dir = project({
      'src/calendar/tokens.ts': "import { seal } from '../oauth/seal.js';\nexport const tokens = () => seal();\n",
      'src/oauth/seal.ts':
        "import { tokens } from '../calendar/tokens.js';\nexport const seal = () => 1;\nexport const again = () => tokens();\n",
      'src/secrets/cipher.ts':
        "import type { Flow } from '../oauth/flow.js';\nexport const cipher = (flow: Flow) => flow.id;\n",
      'src/oauth/flow.ts': 'export interface Flow { readonly id: string }\n',
    });
    expect(names(await violations(dir))).toEqual([
      'layer-calendar: src/calendar/tokens.ts → src/oauth/seal.ts',
      'no-folder-cycle: src/calendar → src/oauth',
      'no-folder-cycle: src/oauth → src/calendar',
      'no-runtime-cycle: src/calendar/tokens.ts → src/oauth/seal.ts',
    ]);
  }, 120_000);

  it('fails on the store importing a domain above it, even a type, and accepts a type from policy below it', async () => {
    const dir = project({
      'src/store/store.ts':
        "import type { Principal } from '../auth/principal.js';\nimport type { EventChange } from '../calendar/calendar-client.js';\nimport type { FeatureValue } from '../policy/types.js';\nexport type Row = { principal: Principal; value: FeatureValue; change: EventChange };\n",
      'src/auth/principal.ts': 'export interface Principal { readonly tenantId: string }\n',
      'src/calendar/calendar-client.ts': "export type EventChange = { readonly type: 'delete' };\n",
      'src/policy/types.ts': 'export type FeatureValue = boolean | number | string;\n',
    });
    expect(names(await violations(dir))).toEqual([
      'store-knows-no-domain: src/store/store.ts → src/auth/principal.ts',
      'store-knows-no-domain: src/store/store.ts → src/calendar/calendar-client.ts',
    ]);
  }, 120_000);

  it('fails on one store dialect importing the other, even a type, and on shared store code importing a dialect', async () => {
    const dir = project({
      'src/store/sqlite/sqlite-ddl.ts':
        "import type { Ddl } from '../postgres/postgres-ddl.js';\nimport { SHARED } from '../migrations/migrations.js';\nexport const SQLITE: Ddl = { strict: SHARED };\n",
      'src/store/postgres/postgres-ddl.ts':
        "export interface Ddl { readonly strict: string }\nexport const POSTGRES: Ddl = { strict: '' };\n",
      'src/store/migrations/migrations.ts':
        "import { POSTGRES } from '../postgres/postgres-ddl.js';\nexport const SHARED = POSTGRES.strict;\n",
      'src/store/open-store.ts':
        "import { SQLITE } from './sqlite/sqlite-ddl.js';\nexport const open = () => SQLITE;\n",
    });
    expect(names(await violations(dir))).toEqual([
      'store-dialects-apart: src/store/sqlite/sqlite-ddl.ts → src/store/postgres/postgres-ddl.ts',
      'store-shared-knows-no-dialect: src/store/migrations/migrations.ts → src/store/postgres/postgres-ddl.ts',
    ]);
  }, 120_000);

  it('fails on errors, logger or config importing a folder of src/', async () => {
    const dir = project({
      'src/config.ts': "import { DEFAULT } from './policy/defaults.js';\nexport const config = DEFAULT;\n",
      'src/policy/defaults.ts': 'export const DEFAULT = 1;\n',
    });
    expect(names(await violations(dir))).toEqual(['layer-root: src/config.ts → src/policy/defaults.ts']);
  }, 120_000);
});
