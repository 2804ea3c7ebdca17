import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.data/**', 'web/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 90_000,
    // Tests race real processes against a real Postgres on 2 cores; keep files from starving each other.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
