// The layering of src/, checked by `npm run lint` (and by test/layering.test.ts, which also
// proves that each rule fails on the violation it names, and that every folder of src/ has its
// place in LAYERS). Folders are ordered from the bottom up; a module may import at run time only
// from its own folder or from a folder below it, so no two folders can import each other at run time.
//
// Type-only imports (`import type`) are erased by the compiler: they cannot create a load-order
// cycle, so they may point up, as long as no two folders end up naming each other (the
// folder-level rule below counts type imports too). The store is held tighter: it imports nothing
// from the folders above it, not even a type; the value shapes it persists live in src/store/.

/** Bottom first. `root` is src/*.ts below everything (errors, logger, config); `top` is app/services/server. */
const LAYERS = [
  'policy',
  'maintenance',
  'store',
  'audit',
  'secrets',
  'tenants',
  'auth',
  'gate',
  'http',
  'metrics',
  'billing',
  'entitlements',
  'usage',
  'webhooks',
  'calendar',
  'oauth',
  'interop',
  'admin',
  'console',
  'demo',
  'cli',
];
const ROOT_LEAVES = '^src/(errors|logger|config)\\.ts$';
const TOP = '^src/(app|services|server)\\.ts$';

const above = (index) => LAYERS.slice(index + 1);
const folder = (names) => `^src/(${names.join('|')})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...LAYERS.map((layer, index) => ({
      name: `layer-${layer}`,
      comment: `src/${layer}/ may import at run time only from folders below it, not from ${above(index).join(', ') || 'the entry files'}`,
      severity: 'error',
      from: { path: `^src/${layer}/` },
      to: { path: [index + 1 < LAYERS.length ? folder(above(index)) : '^$', TOP], dependencyTypesNot: ['type-only'] },
    })),
    {
      name: 'layer-root',
      comment: 'errors, logger and config are the bottom: they import no folder of src/ and no entry file',
      severity: 'error',
      from: { path: ROOT_LEAVES },
      to: { path: [folder(LAYERS), TOP], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'store-knows-no-domain',
      comment:
        'src/store/ imports nothing from the domains above it, not even types: what it persists is its own shape',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: folder(above(LAYERS.indexOf('store'))) },
    },
    {
      name: 'store-dialects-apart',
      comment:
        'a dialect folder of src/store/ imports nothing from the other, not even types: what both need is written once in src/store/',
      severity: 'error',
      from: { path: '^src/store/(sqlite|postgres)/' },
      to: { path: '^src/store/(sqlite|postgres)/', pathNot: '^src/store/$1/' },
    },
    {
      name: 'store-shared-knows-no-dialect',
      comment:
        'the store written once (repositories, migrations, the port) imports no dialect folder; only open-store.ts chooses one',
      severity: 'error',
      from: { path: '^src/store/', pathNot: '^src/store/(sqlite/|postgres/|open-store\\.ts$)' },
      to: { path: '^src/store/(sqlite|postgres)/' },
    },
    {
      name: 'no-runtime-cycle',
      comment: 'no module imports itself back at run time',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'no-folder-cycle',
      comment: 'no two folders of src/ name each other, counting type-only imports: the shared part is a third folder',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
  },
};
