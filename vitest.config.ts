import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run on the sources; the built package is checked by test/package-exports.spec.ts.
    alias: [
      { find: /^nestjs-session-state\/health$/, replacement: fileURLToPath(new URL('./src/health/index.ts', import.meta.url)) },
      { find: /^nestjs-session-state\/redis$/, replacement: fileURLToPath(new URL('./src/redis/index.ts', import.meta.url)) },
      { find: /^nestjs-session-state\/dynamodb$/, replacement: fileURLToPath(new URL('./src/dynamodb/index.ts', import.meta.url)) },
      { find: /^nestjs-session-state\/testing$/, replacement: fileURLToPath(new URL('./src/testing/index.ts', import.meta.url)) },
      { find: /^nestjs-session-state$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
    ],
  },
  test: {
    globals: true,
    root: './',
    include: ['test/**/*.spec.ts', 'sample-app/test/**/*.spec.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
    globalSetup: ['./test/support/dynamodb-local.global-setup.ts'],
    // Any unhandled rejection fails the suite (in production it would crash the process).
    setupFiles: ['./test/support/no-unhandled-rejections.setup.ts'],
  },
});
