import { defineConfig } from 'vitest/config';

const E2E = ['test/**/*.e2e.test.ts'];
// Files that change what every later file would see (module mocks, the program's name): they keep
// a fresh module graph of their own (a fresh worker each), unlike the other end-to-end files.
const SIDE_EFFECTS = ['test/cli/program-name.test.ts', 'test/state/keeper-client.test.ts', 'test/state/lmdb-state-store.test.ts', 'test/push/leading-email.test.ts'];
// An end-to-end file whose platform, in the test's process, holds the runs to 5 arrivals in any
// 1000 ms shared through Redis (50 ms of margin): in a worker that had already run other files it
// saw a 429 once (2 runs of the end-to-end group, load 6 and 15; green alone and in main's runs, where
// every file has a fresh worker), so it keeps a fresh worker, as before.
const FRESH_E2E = ['test/cli/quota.e2e.test.ts'];
// In-process tests whose assertions hold a real-time window of 50–300 ms (a TTL read back from a
// real redis-server, a serve refusal held 300 ms, a socket timeout on a real server): measured
// failing while other files shared the 2 cores, passing alone. They run with the end-to-end files.
const REAL_TIME = ['test/quota/scripts.test.ts', 'test/serve/app.test.ts', 'test/pull/customer-api-client.test.ts'];

const shared = {
  setupFiles: ['test/setup.ts'],
  testTimeout: 20_000,
  restoreMocks: true,
};

export default defineConfig({
  test: {
    // The TypeScript each worker imports (src/, test/), transformed once and kept on disk
    // (node_modules/.experimental-vitest-cache, keyed by each file's content, dropped with a new
    // install) instead of again in every run. Collecting all 141 files (`vitest list`, 2026-11-30,
    // load 3-5): 20.3 and 18.5 s of CPU without it; 18.3 s for the run that fills it, then 15.5 and
    // 13.4 s. A fresh clone (CI) starts cold and pays what it paid before.
    experimental: { fsModuleCache: true },
    projects: [
      {
        test: {
          ...shared,
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...E2E, ...SIDE_EFFECTS, ...REAL_TIME],
          // Pure in-process tests: one module graph per worker instead of one per file. Measured on
          // 23 of these files (2 workers, load average 12): isolated 66 s wall / 25.4 s CPU, shared
          // 19 s wall / 8.4 s CPU; starting a fresh graph cost more than the files' tests.
          isolate: false,
          // Both cores: this group is CPU-bound and has no real-time assertion.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'e2e-shared-worker',
          include: E2E,
          exclude: FRESH_E2E,
          // Two files at a time, after the unit group. Their tests spawn the CLI and wait on real
          // rate limits and latencies, so a second file fills the time one spends waiting; their
          // assertions hold no real-time window (counts per rolling window are the platform's own).
          maxWorkers: 2,
          // One worker process per slot for all these files, not a fresh one per file: they mock
          // no module and change no global (each test's state is its own folder, platform and
          // child processes), and a fresh worker cost ~1 s of CPU per file (vitest, the helpers,
          // the in-process simulators loaded again): 22 of these files, 2 rounds on a shared
          // machine, 135.8 and 102.5 s of CPU isolated, 106.6 and 83.7 s shared, same 62 tests.
          isolate: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          ...shared,
          // Same group, same two slots as the end-to-end files, but each file in a fresh worker.
          // Within a group vitest queues the projects by name: this one's files first, so that
          // lmdb-state-store (one of the longest files) starts at once, not after the others.
          name: 'e2e-fresh-worker',
          include: [...SIDE_EFFECTS, ...FRESH_E2E],
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          ...shared,
          name: 'real-time',
          include: REAL_TIME,
          // Alone, last: their windows of 50–300 ms failed while other files shared the 2 cores.
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
