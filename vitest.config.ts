import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Long reliability runs live behind `npm run test:reliability`.
    exclude: ['test/reliability/**', 'node_modules/**'],
  },
});
