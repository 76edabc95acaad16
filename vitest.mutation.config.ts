import { defineConfig } from 'vitest/config';

// Mutation runs need only the unit tests of the modules in scope: the end-to-end tests spawn the
// built CLI (dist/), which Stryker's mutants never reach, so they would only add minutes.
export default defineConfig({
  test: {
    include: ['test/engine/**/*.test.ts', 'test/pull/**/*.test.ts', 'test/profiles/**/*.test.ts', 'test/push/**/*.test.ts', 'test/state/**/*.test.ts', 'test/quota/**/*.test.ts', 'test/hash/**/*.test.ts', 'test/io/**/*.test.ts', 'test/normalize/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // A mutant that makes a test hang (a dispatch loop never woken, a promise never settled) fails
    // here as a test failure, which counts as killed; Stryker's own timeout (stryker.config.mjs)
    // would instead restart the test-runner process each time, which costs several seconds more.
    testTimeout: 5_000,
    restoreMocks: true,
  },
});
