import { defineConfig } from 'vitest/config';

// Mutation runs need only the unit tests of the modules in scope: the end-to-end tests spawn the
// built CLI (dist/), which Stryker's mutants never reach, so they would only add minutes.
export default defineConfig({
  test: {
    include: ['test/engine/**/*.test.ts', 'test/pull/**/*.test.ts', 'test/profiles/**/*.test.ts', 'test/push/**/*.test.ts', 'test/state/**/*.test.ts', 'test/quota/**/*.test.ts', 'test/hash/**/*.test.ts', 'test/io/**/*.test.ts', 'test/normalize/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 10_000,
    restoreMocks: true,
  },
});
