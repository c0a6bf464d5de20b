import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most suites spawn real Python, bubblewrap and git; two cores are all a CI machine has.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
