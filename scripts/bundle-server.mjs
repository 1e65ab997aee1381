// Start-up: the server is ~200 compiled modules of ours and ~1,300 files of its dependencies;
// Node 20 resolves, reads and compiles each one at start, then compiles every function the first
// time it runs (together ~0.5 s of an empty store's ~0.9 s). The build therefore
//   1. bundles the server into one CommonJS file, dist/server.bundle.cjs;
//   2. puts scripts/server-loader.mjs in place of tsc's dist/server.js (kept as server-entry.js):
//      it runs the bundle with V8's code cache for it;
//   3. starts the built server once (a temporary store, a free port, one /healthz) and stops it:
//      the loader writes what that start compiled as the cache, dist/server.bundle.cjs.v8cache.
// Everything else in dist/ stays as tsc wrote it: the CLI and the policy worker import it.
//
// Left outside the bundle: native addons, packages that read files beside their own code
// (`__dirname`), and clients only some configurations load. Our two modules that locate files
// through `import.meta.url` keep their own location in the bundle.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const LOADER = join(root, 'scripts', 'server-loader.mjs');
/** How the loader's text begins: a dist/server.js that begins so is the loader, not tsc's output. */
const LOADER_MARK = '// dist/server.js as built:';

/** Left to Node's own loading: loaded only when configured, native, or reading files beside their code. */
export const EXTERNAL = [
  'better-sqlite3',
  'pg',
  'pg-native',
  'stripe',
  'unleash-client',
  '@googleapis/calendar',
  'google-auth-library',
  '@microsoft/microsoft-graph-client',
  '@fastify/swagger-ui',
];

/** Rewrites `import.meta.url` in our compiled modules to the module's own file URL, from the bundle's `__dirname`. */
function ownLocation(dist) {
  return {
    name: 'own-location',
    setup(plugin) {
      plugin.onLoad({ filter: /\.js$/ }, async ({ path }) => {
        if (!path.startsWith(dist + sep)) return undefined;
        const text = await readFile(path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const own = relative(dist, path).split(sep).join('/');
        const url = `require("node:url").pathToFileURL(require("node:path").join(__dirname, ${JSON.stringify(own)})).href`;
        return { contents: text.replaceAll('import.meta.url', url), loader: 'js' };
      });
    },
  };
}

/**
 * `import()` of a package left outside becomes `require()` inside a shim: a bundle run from V8's
 * code cache loses the dynamic import callback (Node 20), and these packages are CommonJS anyway.
 */
function requireExternals() {
  const names = new RegExp(`^(${EXTERNAL.map((name) => name.replace(/[/.]/g, '\\$&')).join('|')})$`);
  return {
    name: 'require-externals',
    setup(plugin) {
      plugin.onResolve({ filter: names }, ({ path, kind }) =>
        kind === 'dynamic-import' ? { path, namespace: 'external-require' } : undefined,
      );
      plugin.onLoad({ filter: /.*/, namespace: 'external-require' }, ({ path }) => ({
        contents: `module.exports = require(${JSON.stringify(path)});`,
        loader: 'js',
        resolveDir: root,
      }));
    },
  };
}

/**
 * Bundles tsc's `<dist>/server.js` and puts the loader in its place; returns the bundle's path.
 * tsc builds incrementally and writes `server.js` only when src/server.ts changed: what it wrote
 * is kept as `server-entry.js`, the bundle's entry.
 */
export async function bundleServer(dist = join(root, 'dist')) {
  const written = join(dist, 'server.js');
  const entry = join(dist, 'server-entry.js');
  const loader = await readFile(LOADER, 'utf8');
  if (!loader.startsWith(LOADER_MARK)) throw new Error(`${LOADER} must start with "${LOADER_MARK}"`);
  if (!(await readFile(written, 'utf8')).startsWith(LOADER_MARK)) {
    await rename(written, entry);
    // tsc's map describes the file the loader replaces.
    await rm(`${written}.map`, { force: true });
  }
  const bundle = join(dist, 'server.bundle.cjs');
  await rm(`${bundle}.v8cache`, { force: true });
  await build({
    entryPoints: [entry],
    outfile: bundle,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // Less text to read and compile; names kept, so stack traces in the log still say where.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    external: EXTERNAL,
    plugins: [ownLocation(dist), requireExternals()],
    logLevel: 'warning',
  });
  await writeFile(written, loader);
  return bundle;
}

/**
 * Starts `<dist>/server.js` once on a temporary store and a free port, asks /healthz, and stops
 * it, so that the loader writes the code cache. Nothing of the environment's store, port or
 * Node options reaches it. Returns the cache's size in bytes.
 */
export async function warmCodeCache(dist = join(root, 'dist'), { timeoutMs = 60_000 } = {}) {
  const directory = await mkdtemp(join(tmpdir(), 'entitle-warm-'));
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith('ENTITLE_') && !['DATABASE_URL', 'PORT', 'HOST', 'NODE_OPTIONS'].includes(name),
    ),
  );
  const child = spawn(process.execPath, [join(dist, 'server.js')], {
    cwd: root,
    env: {
      ...env,
      PORT: '0',
      HOST: '127.0.0.1',
      ENTITLE_DB: join(directory, 'entitle.db'),
      ENTITLE_SEED_DEMO: 'false',
      ENTITLE_WRITE_CODE_CACHE: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
      const read = (chunk) => {
        output += chunk;
        const found = /listening on (http:\/\/\S+)/.exec(output);
        if (found) {
          clearTimeout(timer);
          resolve(found[1]);
        }
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      void exited.then((code) => reject(new Error(`exited with ${code}:\n${output}`)));
    });
    const health = await fetch(`${url}/healthz`);
    if (!health.ok) throw new Error(`/healthz answered ${health.status}`);
  } finally {
    child.kill('SIGTERM');
    await exited;
    await rm(directory, { recursive: true, force: true });
  }
  return (await stat(join(dist, 'server.bundle.cjs.v8cache'))).size;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await bundleServer();
  try {
    await warmCodeCache();
  } catch (error) {
    // The server runs without it, compiling as it starts: slower to be ready, nothing else.
    console.warn(`warning: no code cache for dist/server.js (${error instanceof Error ? error.message : error})`);
  }
}
