import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The fake Microsoft server speaks HTTPS with a test certificate (test/fixtures/tls). Node reads
// NODE_EXTRA_CA_CERTS only at start-up: set here, it reaches the forked test workers.
process.env.NODE_EXTRA_CA_CERTS = fileURLToPath(new URL('./test/fixtures/tls/ca.crt', import.meta.url));

// Files that replace a module for themselves (vi.mock) or fill a module's bounded table: each
// runs in a fresh process, so what it does to the module reaches no other file.
const ISOLATED = ['test/policy/watch-malformed.test.ts', 'test/entitlements/plan-profile-bound.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    // src/ transpiled once for the child-server processes (see the file).
    globalSetup: ['test/support/global-setup.ts'],
    // Both cores (vitest's default leaves one idle on a 2-core machine): much of the suite waits
    // on child processes, sockets and PostgreSQL rather than computing.
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // The same suites run longer behind `npm run test:reliability` (ENTITLE_RELIABILITY=1).
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: ['node_modules/**', ...ISOLATED],
          // A worker runs many files one after another with the modules it already loaded: every
          // file builds its own apps, stores and fakes (nothing is shared through module state),
          // so only the cost of importing fastify, the provider clients and src/ once is saved.
          isolate: false,
        },
      },
      { extends: true, test: { name: 'isolated', include: ISOLATED, isolate: true } },
    ],
  },
});
