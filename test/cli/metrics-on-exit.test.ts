import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/engine/random.js';
import { close, listen } from '../../src/http/server.js';
import { createDownstreamMock } from '../../src/mock/downstream-server.js';
import { runMain } from '../helpers/in-process-cli.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { useTempDir } from '../helpers/tmp.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/profiles/profiles.ndjson', import.meta.url));
/** What last night's successful run left: a run that cannot start must not leave this standing. */
const LAST_NIGHT = 'sync_run_exit_code{command="push"} 0\nsync_run_exit_code{command="pull"} 0\nsync_run_last_timestamp_seconds{command="push"} 1\n';

const lastError = (stderr: string): { msg: string; exitCode: number } => JSON.parse(stderr.trim().split('\n').at(-1)!);

// cron's alerts read the metrics file: a run that could not start (exit 2) left the previous
// night's exit code there, so nothing fired until "has not run for 26 h", a day later.
// Parsing and refusal only: sync runs in this process (test/helpers/in-process-cli.ts). A finished
// push writing its metrics through the real bin/sync.js: metrics-on-exit.e2e.test.ts.
describe('--metrics-file is rewritten on every exit (in process)', () => {
  const tmp = useTempDir();
  // Only its URL is used: every run here stops before sending. In this process, not a spawned `sync mock downstream`.
  const mock = createDownstreamMock({ rate: 50, random: seededRandom(1) });
  const platform = { url: '' };

  beforeAll(async () => {
    platform.url = await listen(mock, 0);
  });
  afterAll(() => close(mock));

  /** Last night's file, the run, then what the file says now. */
  const run = async (name: string, args: (file: string) => string[], env: Record<string, string | undefined> = {}) => {
    const file = join(tmp(), `${name}.prom`);
    writeFileSync(file, LAST_NIGHT);
    const before = Date.now() / 1000;
    const result = await runMain(args(file), { env });
    return { result, metrics: parsePrometheus(readFileSync(file, 'utf8')), before, after: Date.now() / 1000 };
  };

  it('exit 2 before any action runs (commander refuses a flag, a flag parser refuses a value) and before the run (no SYNC_DOWNSTREAM_URL, a state directory it cannot create)', async () => {
    const notADir = join(tmp(), 'a-file');
    writeFileSync(notADir, 'x');
    const cases = await Promise.all([
      run('refused-flag', (file) => ['push', FIXTURE, '--bogus', '--metrics-file', file], { SYNC_DOWNSTREAM_URL: platform.url }),
      run('refused-value', (file) => ['pull', '--rate', 'lots', `--metrics-file=${file}`]),
      run('no-url', (file) => ['push', FIXTURE, '--metrics-file', file, '--dead-letter', join(tmp(), 'dl.ndjson')]),
      run('state', (file) => ['push', FIXTURE, '--metrics-file', file, '--dead-letter', join(tmp(), 'dl2.ndjson'), '--state', join(notADir, 'state')], { SYNC_DOWNSTREAM_URL: platform.url }),
    ]);
    const [refusedFlag, refusedValue, noUrl, state] = cases;
    expect(lastError(refusedFlag!.result.stderr).msg).toBe("unknown option '--bogus'");
    expect(lastError(refusedValue!.result.stderr).msg).toMatch(/--rate <n>' argument 'lots'/);
    expect(lastError(noUrl!.result.stderr).msg).toMatch(/SYNC_DOWNSTREAM_URL/);
    expect(lastError(state!.result.stderr).msg).toMatch(new RegExp(`^--state ${notADir}/state`));
    for (const [i, { result, metrics, before, after }] of cases.entries()) {
      const command = i === 1 ? 'pull' : 'push';
      expect(result.code, result.stderr).toBe(2);
      // The whole file is replaced: nothing of last night's run stays (pull's series in push's file included).
      expect([...metrics.keys()].sort(), result.stderr).toStrictEqual(
        [`sync_run_duration_seconds{command="${command}"}`, `sync_run_exit_code{command="${command}"}`, `sync_run_last_timestamp_seconds{command="${command}"}`],
      );
      expect(metrics.get(`sync_run_exit_code{command="${command}"}`)).toBe(2);
      const ended = metrics.get(`sync_run_last_timestamp_seconds{command="${command}"}`)!;
      expect(ended).toBeGreaterThanOrEqual(Math.floor(before));
      expect(ended).toBeLessThanOrEqual(after + 1);
      expect(metrics.get(`sync_run_duration_seconds{command="${command}"}`)).toBeLessThanOrEqual(after - before + 1);
    }
  });

  it('a metrics file that cannot be written either: one line says the exit code was not recorded, the exit code stays 2', async () => {
    const file = join(tmp(), 'missing', 'push.prom');
    const result = await runMain(['push', FIXTURE, '--bogus', '--metrics-file', file]);
    expect(result.code).toBe(2);
    expect(lastError(result.stderr)).toMatchObject({ exitCode: 2, msg: `--metrics-file ${file}: exit code 2 not recorded: no such file or directory (ENOENT)` });
  });

  it('help and dry runs write no metrics file', async () => {
    const help = join(tmp(), 'help.prom');
    const dry = join(tmp(), 'dry.prom');
    const [helped, dryRun] = await Promise.all([
      runMain(['push', '--help', '--metrics-file', help]),
      runMain(['push', join(tmp(), 'absent.ndjson'), '--dry-run', '--metrics-file', dry]),
    ]);
    expect(helped.code).toBe(0);
    expect(dryRun.code).toBe(2);
    expect(existsSync(help)).toBe(false);
    expect(existsSync(dry)).toBe(false);
  });
});
