import { defineConfig } from 'vitest/config';

/** Unit tests: logic with no I/O, beside the code (`src/**\/*.test.ts`, `scripts/**\/*.test.ts`). */
export default defineConfig({
  test: {
    include: ['{libs,services,infra,loadtests,schemas}/**/src/**/*.test.ts', 'scripts/**/*.test.ts'],
    // scripts/test/integration needs the stack: it runs with the integration tests.
    exclude: ['**/node_modules/**', '**/dist/**', '.stack/**', 'scripts/test/integration/**'],
  },
});
