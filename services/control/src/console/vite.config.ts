import { resolve } from 'node:path';
import { defineConfig } from 'vite';

/** The console, built into the service's dist/console (served by the control service; nothing is fetched at run time). */
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: resolve(import.meta.dirname, '../../dist/console'),
    emptyOutDir: true,
    chunkSizeWarningLimit: 400,
  },
});
