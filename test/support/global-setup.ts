// Once per test run, before any test file: src/ transpiled file by file into .test-dist/ (what
// tsx does in every process, done once), laid out as `npm run build` lays out dist/. Child
// servers (test/support/child-server.ts) then start with plain node instead of compiling the
// sources again in each of the dozens of processes the crash and concurrency tests start.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Beside dist/, one level below the root: relative paths (policies/schema.json, dist/console-ui) resolve alike. */
export const TEST_DIST = join(ROOT, '.test-dist');

export default async function setup(): Promise<void> {
  const src = join(ROOT, 'src');
  const entryPoints = readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.ts') && !path.startsWith(join('console', 'web')))
    .map((path) => join(src, path));
  await build({
    entryPoints,
    outdir: TEST_DIST,
    outbase: src,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
}
