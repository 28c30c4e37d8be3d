import { defineConfig } from 'vitest/config';

/**
 * The local host's tests alone (`npm test -w @dmf-functions/devhost`); the repository's `npm test`
 * runs them with everything else through the root vitest.config.ts.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
