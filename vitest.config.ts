import { defineConfig } from 'vitest/config';

/** Unit tests: logic with no I/O, beside the code (`src/**\/*.test.ts`, `scripts/**\/*.test.ts`). */
export default defineConfig({
  test: {
    include: ['{libs,services,infra,loadtests,schemas}/**/src/**/*.test.ts', 'scripts/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', '.stack/**'],
  },
});
