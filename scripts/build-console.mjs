// Builds the operator console (src/console/web) into dist/console-ui (beside, not over, the compiled src/console): one script bundle and one
// stylesheet, named by content hash so they can be cached for good, and index.html pointing at
// them. esbuild bundles the page's TypeScript; no framework, no CDN.

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src/console/web');

/** Builds into `outdir` (default dist/console-ui) and returns it. */
export async function buildConsole(outdir = join(root, 'dist/console-ui')) {
  await rm(outdir, { recursive: true, force: true });
  const assets = join(outdir, 'assets');
  await mkdir(assets, { recursive: true });
  const result = await build({
    entryPoints: [join(source, 'main.ts'), join(source, 'console.css')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    outdir: assets,
    entryNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
  const script = outputs.find((name) => name.endsWith('.js'));
  const style = outputs.find((name) => name.endsWith('.css'));
  if (!script || !style) throw new Error('console build: missing script or stylesheet');
  const html = (await readFile(join(source, 'index.html'), 'utf8'))
    .replace('{{script}}', script)
    .replace('{{style}}', style);
  await writeFile(join(outdir, 'index.html'), html);
  return outdir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildConsole();
