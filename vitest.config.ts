import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // DuckDB files and local servers per test file; files run in parallel, tests in a file in order.
    fileParallelism: true,
  },
});
