// npm run test:mutation: mutation testing of the modules whose behaviour is the product.
// Not part of npm test or CI (it takes minutes). Figures per file are in README → Development.
// One module against its own tests only: `npx stryker run --mutate src/state/keeper-client.ts
// --testFiles test/state/keeper-client.test.ts`. `--mutate` alone runs, per mutant, every related
// test covering it (for keeper-client: 74 tests in 4 files, ~30 s a survivor); its own file gives a
// lower bound of the score in minutes (see docs/benchmarks.md, keeper-client mutation).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/engine/**/*.ts',
    'src/pull/enrichment.ts',
    'src/pull/customer-data-processor.ts',
    'src/pull/data-exporter.ts',
    'src/profiles/**/*.ts',
    'src/push/record-reader.ts',
    'src/push/checked-record.ts',
    'src/state/**/*.ts',
    'src/hash/**/*.ts',
    'src/quota/**/*.ts',
  ],
  // A mutant that turns a loop endless (the batch engine's dispatch, a limiter wait) must fail
  // fast as a timeout, not hold the run for the default minutes.
  timeoutMS: 5000,
  timeoutFactor: 1.5,
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  // Survivors per file for scripts: jq '.files["src/…"].mutants[] | select(.status == "Survived")'
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // `npm run test:mutation -- --incremental` re-tests only mutants whose code or covering tests changed.
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  thresholds: { high: 90, low: 85, break: null },
};
