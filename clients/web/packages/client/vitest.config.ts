import { defineConfig } from 'vitest/config';

// Unit tests of the client against a real sessiond (scripts/daemon.mjs starts it).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
