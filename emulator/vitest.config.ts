import { defineConfig } from 'vitest/config';

/**
 * The emulator's tests alone (`npm test -w @dmf-functions/emulator`); the repository's `npm test`
 * runs them with everything else through the root vitest.config.ts.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./testing.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
