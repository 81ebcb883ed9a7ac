import { defineConfig } from 'vitest/config';

/** Integration and scenario tests: real servers from `npm run stack -- up`, one file at a time. */
export default defineConfig({
  test: {
    include: ['**/test/integration/**/*.test.ts', '**/test/scenarios/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', '.stack/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
