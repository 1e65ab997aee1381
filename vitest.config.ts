import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The fake Microsoft server speaks HTTPS with a test certificate (test/fixtures/tls). Node reads
// NODE_EXTRA_CA_CERTS only at start-up: set here, it reaches the forked test workers.
process.env.NODE_EXTRA_CA_CERTS = fileURLToPath(new URL('./test/fixtures/tls/ca.crt', import.meta.url));

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // The same suites run longer behind `npm run test:reliability` (ENTITLE_RELIABILITY=1).
    exclude: ['node_modules/**'],
  },
});
