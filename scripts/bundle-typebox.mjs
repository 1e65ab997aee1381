// Start-up: `typebox` is 373 small ES modules, and Node 20 takes ~0.3 s to load them one by one
// (~30 ms as one file). The server only builds JSON Schema with it, so the build bundles it into
// dist/vendor/typebox.js and points the compiled imports of `typebox` there. Sources and tests
// keep importing the package; only dist/ changes.

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const IMPORT = /(from\s+|import\s*\(\s*)(['"])typebox\2/g;

async function* jsFiles(directory) {
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) yield* jsFiles(path);
    else if (entry.name.endsWith('.js')) yield path;
  }
}

/** Bundles typebox into `<dist>/vendor/typebox.js` and rewrites `<dist>`'s imports of it; returns how many files changed. */
export async function bundleTypebox(dist = join(root, 'dist')) {
  const vendor = join(dist, 'vendor', 'typebox.js');
  await build({
    stdin: { contents: "export * from 'typebox';", resolveDir: root, loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile: vendor,
    logLevel: 'warning',
  });
  let changed = 0;
  for await (const file of jsFiles(dist)) {
    if (file === vendor) continue;
    const text = await readFile(file, 'utf8');
    if (!text.includes('typebox')) continue;
    let target = relative(dirname(file), vendor).split(sep).join('/');
    if (!target.startsWith('.')) target = `./${target}`;
    const rewritten = text.replace(IMPORT, (_, head, quote) => `${head}${quote}${target}${quote}`);
    if (rewritten !== text) {
      await writeFile(file, rewritten);
      changed++;
    }
  }
  return changed;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await bundleTypebox();
