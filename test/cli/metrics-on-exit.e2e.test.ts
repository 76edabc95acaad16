import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDownstreamMock } from '../../src/mock/downstream-server.js';
import { runCli } from '../helpers/cli.js';
import { serveMock } from '../helpers/mocks.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { useTempDir } from '../helpers/tmp.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/profiles/profiles.ndjson', import.meta.url));
/** What last night's successful run left: a run that cannot start must not leave this standing. */
const LAST_NIGHT = 'sync_run_exit_code{command="push"} 0\nsync_run_exit_code{command="pull"} 0\nsync_run_last_timestamp_seconds{command="push"} 1\n';

// cron's alerts read the metrics file: a run that could not start (exit 2) left the previous
// night's exit code there, so nothing fired until "has not run for 26 h", a day later.
describe('--metrics-file is rewritten on every exit (spawned)', () => {
  const tmp = useTempDir();
  // The simulator `sync mock downstream` runs, in this process (nothing here stops or restarts it).
  let platform: { url: string };
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    platform = await serveMock(createDownstreamMock({ random: Math.random }), (stop) => void stops.push(stop));
  });
  afterAll(async () => {
    await Promise.all(stops.map((stop) => stop()));
  });

  /** Last night's file, the run, then what the file says now. */
  const run = async (name: string, args: (file: string) => string[], env: Record<string, string | undefined> = {}) => {
    const file = join(tmp(), `${name}.prom`);
    writeFileSync(file, LAST_NIGHT);
    const before = Date.now() / 1000;
    const result = await runCli(args(file), { env });
    return { result, metrics: parsePrometheus(readFileSync(file, 'utf8')), before, after: Date.now() / 1000 };
  };

  // The runs that exit 2 before sending, and help and dry runs: metrics-on-exit.test.ts, in process.
  it("a finished push: sync_run_records holds the summary's counts (a share of refusals for the alert), exit 3 recorded", async () => {
    const { result, metrics } = await run('push', (file) => ['push', FIXTURE, '--json', '--metrics-file', file, '--dead-letter', join(tmp(), 'dl.ndjson')], { SYNC_DOWNSTREAM_URL: platform.url });
    expect(result.code, result.stderr).toBe(3);
    const summary = JSON.parse(result.stdout);
    for (const outcome of ['invalid', 'duplicates', 'unchanged', 'delivered', 'rejected', 'failed']) {
      expect(metrics.get(`sync_run_records{command="push",outcome="${outcome}"}`), outcome).toBe(summary[outcome]);
    }
    expect(summary.invalid + summary.rejected).toBeGreaterThan(0);
    expect(metrics.get('sync_run_exit_code{command="push"}')).toBe(3);
  });
});
