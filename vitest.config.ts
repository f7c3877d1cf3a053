import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Worker threads share the machine's two cores; forks isolate Wasm memories.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
