import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests share one Redis and one PostgreSQL; each test uses its own key prefix / table,
    // so files may run in parallel.
    fileParallelism: true,
  },
});
