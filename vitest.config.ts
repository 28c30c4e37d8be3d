import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The workspaces' own tests run here too (alone: npm test -w @dmf-functions/emulator, or
    // npm test -w @dmf-functions/devhost).
    include: ['test/**/*.test.ts', 'emulator/test/**/*.test.ts', 'devhost/test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
