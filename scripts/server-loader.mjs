// dist/server.js as built: runs the bundled server (dist/server.bundle.cjs, see
// scripts/bundle-server.mjs) with V8's code cache for it, written by the build's warm-up start.
// Node 20 compiles every function of a module the first time it runs; the cache holds that work,
// so a start compiles next to nothing. A cache that does not fit (another Node, other flags, a
// rebuilt bundle) is refused by V8 itself and the bundle is compiled as usual.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

// Memory: between full collections V8 lets the heap grow to several times the live data (a
// server with ~60 MiB live after serving 10,000 tenants held a 250 MiB heap, 320 MiB RSS).
// Growing by half the live data keeps it near 140 MiB for the same latency. Set before the code
// cache is read, in the build's warm-up too: V8 checks a cache against the flags it was made with.
// A `--heap-growing-percent` on the command line wins.
if (!process.execArgv.some((flag) => flag.startsWith('--heap-growing-percent')))
  v8.setFlagsFromString('--heap-growing-percent=50');

const bundle = fileURLToPath(new URL('./server.bundle.cjs', import.meta.url));
const cacheFile = `${bundle}.v8cache`;

let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // no cache (a build without its warm-up): compiled as usual
}
// CommonJS's own wrapper: the bundle is a CommonJS module and runs as one.
const script = new vm.Script(
  `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'utf8')}\n})`,
  {
    filename: bundle,
    ...(cachedData ? { cachedData } : {}),
    // import() of the packages left outside the bundle, as any module would.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  },
);
if (script.cachedDataRejected === true)
  process.emitWarning(
    'the code cache of dist/server.bundle.cjs does not fit this Node or its flags: compiling at start',
  );
if (process.env.ENTITLE_WRITE_CODE_CACHE === '1') {
  // The build's warm-up: what this start compiled, written when it stops.
  process.once('exit', () => {
    writeFileSync(`${cacheFile}.tmp`, script.createCachedData());
    renameSync(`${cacheFile}.tmp`, cacheFile);
  });
}
const module = { exports: {} };
script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
