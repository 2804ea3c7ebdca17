import { defineConfig } from 'vitest/config';

/**
 * Two projects, run one after the other by `npm test`: the suite, two files at a time, then the
 * fault suite (database freeze and kill, the crash storm, signals) alone, one file at a time.
 * The fault suite asserts answers within 2 s while it kills and freezes real processes; sharing
 * two cores with the rest of the suite would measure the neighbours, not Switchyard.
 */
const FAULTS = ['test/faults.test.ts', 'test/crash-storm.test.ts', 'test/signals.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
    pool: 'forks',
    // Tests race real processes against a real Postgres on 2 cores; keep files from starving each other.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 90_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['**/*.test.ts'],
          exclude: ['node_modules/**', '.data/**', 'web/**', ...FAULTS],
        },
      },
      {
        extends: true,
        test: { name: 'faults', include: FAULTS },
      },
    ],
  },
});
