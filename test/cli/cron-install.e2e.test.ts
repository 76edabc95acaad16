import { execFile, spawn } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/cli.js';
import { parsePrometheus } from '../helpers/prometheus.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The README's nightly script: the README shows this file, the test runs it as it is. */
const NIGHTLY = join(ROOT, 'docs', 'cron', 'nightly.sh');
const FIXTURE = join(ROOT, 'fixtures', 'profiles', 'profiles.ndjson');

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `env -i PATH=/usr/bin:/bin HOME=…`: what cron gives a job, and nothing of ours. */
function underCron(script: string, args: string[], home: string): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/env', ['-i', 'PATH=/usr/bin:/bin', `HOME=${home}`, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
const onlyFile = (dir: string, prefix = ''): string => {
  const names = readdirSync(dir).filter((name) => name.startsWith(prefix));
  expect(names, dir).toHaveLength(1);
  return join(dir, names[0]!);
};

// The README's install for cron, as written: pack the clone, install the tarball into its own
// prefix (never /usr/local/bin, where `sync` would shadow coreutils' for root), and let cron run
// the nightly script with nothing but PATH=/usr/bin:/bin and HOME. Bounded: packing and
// installing take 20-60 s on a busy 2-core machine; each nightly run a few seconds.
describe('the install for cron and its nightly script (npm pack, npm install -g --prefix, env -i)', () => {
  let tmp: string;
  let prefix: string;
  let script: string;
  let source: RunningServer;
  let platform: RunningServer;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'sync-cron-install-'));
    prefix = join(tmp, 'prefix');
    // dist/ is already built (npm ci, npm test's pretest): packing skips the rebuild that the
    // README's plain `npm pack` does. The tarball carries its dependencies (bundleDependencies).
    const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], { cwd: ROOT, timeout: 120_000 });
    const tarball = join(tmp, packed.stdout.trim().split('\n').at(-1)!);
    // An empty npm cache and --offline: the install downloads nothing, so it works where the
    // registry cannot be reached, and with exactly what npm ci installed (lmdb's binary included).
    await run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--cache', join(tmp, 'npm-cache'), tarball], {
      cwd: tmp,
      timeout: 150_000,
    });
    rmSync(tarball);
    // As the README: the script beside the program.
    script = join(prefix, 'nightly.sh');
    copyFileSync(NIGHTLY, script);
    chmodSync(script, 0o755);
    [source, platform] = await Promise.all([startServer(['mock', 'reqres', '--port', '0', '--rate', '0']), startServer(['mock', 'downstream', '--port', '0'])]);
  }, 300_000);

  afterAll(async () => {
    await Promise.all([source?.stop(), platform?.stop()]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The env file the README tells the user to write, for these mocks and this temp folder. */
  const envFile = (name: string, lines: string[]): string => {
    const file = join(tmp, `${name}.env`);
    writeFileSync(file, [`SYNC_CLI=${join(prefix, 'bin', 'sync-cli')}`, `NIGHTLY_DIR=${join(tmp, name)}`, `NIGHTLY_METRICS_DIR=${join(tmp, name, 'textfile')}`, `SYNC_SOURCE_URL=${source.url}/api`, ...lines, ''].join('\n'));
    return file;
  };

  it('installs a copy, not a link into the clone, under both names, that runs under cron\'s PATH', async () => {
    const installed = join(prefix, 'lib', 'node_modules', 'sync');
    expect(lstatSync(installed).isDirectory()).toBe(true); // a copy, not a link into the clone
    expect(readdirSync(join(prefix, 'bin')).sort()).toStrictEqual(['sync', 'sync-cli']);
    const help = await run('/usr/bin/env', ['-i', 'PATH=/usr/bin:/bin', join(prefix, 'bin', 'sync-cli'), '--help']);
    expect(help.stdout).toMatch(/^Usage: sync-cli /);
  });

  it('a night: creates its folders, pulls, pushes, leaves export, dead letters, JSON logs and metrics; the next night skips what the platform accepted (the state, through the installed lmdb)', async () => {
    const home = join(tmp, 'home');
    mkdirSync(home);
    const env = envFile('night', [`SYNC_DOWNSTREAM_URL=${platform.url}`]);
    const work = join(tmp, 'night');
    expect(existsSync(work)).toBe(false);

    const night = await underCron(script, [env], home);
    const summary = JSON.parse(readFileSync(onlyFile(join(work, 'runs'), 'push-'), 'utf8'));
    const refused = summary.invalid + summary.rejected;
    expect(night.code, night.stderr).toBe(refused > 0 ? 3 : 0);
    expect(summary.delivered).toBeGreaterThan(0);
    // The cron mail: one line saying how the night ended.
    expect(night.stderr.trim().split('\n'), night.stderr).toHaveLength(1);
    expect(night.stderr).toMatch(refused > 0 ? /^sync-cli nightly \S+: done, some records refused: delivered \d+ of \d+ \(unchanged 0, / : /^sync-cli nightly \S+: done: delivered /);
    expect(night.stdout).toBe('');

    const deadLetters = readFileSync(onlyFile(join(work, 'dead-letters')), 'utf8').trim().split('\n');
    expect(deadLetters).toHaveLength(summary.deadLettered);
    for (const line of jsonLines(readFileSync(onlyFile(join(work, 'logs'), 'push-'), 'utf8'))) {
      expect(line).toMatchObject({ level: expect.any(String), time: expect.any(String), runId: expect.any(String), stage: expect.any(String) });
    }
    const push = parsePrometheus(readFileSync(join(work, 'textfile', 'sync_push.prom'), 'utf8'));
    expect(push.get('sync_run_exit_code{command="push"}')).toBe(night.code);
    expect(push.get('sync_run_records{command="push",outcome="delivered"}')).toBe(summary.delivered);
    const exported = JSON.parse(readFileSync(join(work, 'exports', 'customers.json'), 'utf8'));
    expect(exported.customers.length).toBeGreaterThan(0);
    expect(readFileSync(join(work, 'exports', 'profiles.ndjson'), 'utf8').trim().split('\n').length).toBe(summary.total);
    expect(parsePrometheus(readFileSync(join(work, 'textfile', 'sync_pull.prom'), 'utf8')).get('sync_run_exit_code{command="pull"}')).toBe(0);
    for (const line of jsonLines(readFileSync(onlyFile(join(work, 'logs'), 'pull-'), 'utf8'))) expect(line.runId).toEqual(expect.any(String));
    expect(existsSync(join(home, '.local', 'state', 'sync'))).toBe(true);

    // The next night (a second later: each run's files carry its start time): the state kept in
    // HOME by the installed copy's lmdb says what the platform has, so what it accepted is not sent.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const next = await underCron(script, [env], home);
    expect(next.code, next.stderr).toBe(night.code);
    const second = readdirSync(join(work, 'runs')).filter((name) => name.startsWith('push-')).sort().at(-1)!;
    const again = JSON.parse(readFileSync(join(work, 'runs', second), 'utf8'));
    expect(again).toMatchObject({ delivered: 0, requests: 0 });
    expect(again.unchanged).toBeGreaterThanOrEqual(summary.delivered);
    expect(readdirSync(join(work, 'dead-letters'))).toHaveLength(2);
  }, 90_000);

  it('a night whose pull cannot start: exit 2 in the pull metrics, nothing pushed, and why in the cron mail', async () => {
    const home = join(tmp, 'home-pull');
    mkdirSync(home);
    const env = envFile('pull', [`SYNC_DOWNSTREAM_URL=${platform.url}`, 'NIGHTLY_PULL_FLAGS=(--rate lots)']);
    const night = await underCron(script, [env], home);
    expect(night.code, night.stderr).toBe(2);
    expect(night.stderr).toMatch(/^sync-cli nightly \S+: pull could not start, nothing pushed: .+ \(see \S+\/logs\/pull-\S+\.ndjson\)\n$/);
    expect(parsePrometheus(readFileSync(join(tmp, 'pull', 'textfile', 'sync_pull.prom'), 'utf8')).get('sync_run_exit_code{command="pull"}')).toBe(2);
    expect(readdirSync(join(tmp, 'pull', 'logs')).filter((name) => name.startsWith('push-'))).toHaveLength(0);
  }, 30_000);

  it('another job\'s file (NIGHTLY_PROFILES) and no SYNC_DOWNSTREAM_URL: exit 2 in the metrics file, over the previous one, and why in the cron mail', async () => {
    const home = join(tmp, 'home-unset');
    mkdirSync(home);
    const env = envFile('unset', [`NIGHTLY_PROFILES=${FIXTURE}`]);
    mkdirSync(join(tmp, 'unset', 'textfile'), { recursive: true });
    const metrics = join(tmp, 'unset', 'textfile', 'sync_push.prom');
    writeFileSync(metrics, 'sync_run_exit_code{command="push"} 0\n');

    const night = await underCron(script, [env], home);
    expect(night.code, night.stderr).toBe(2);
    expect(night.stderr).toMatch(/^sync-cli nightly \S+: push could not start, nothing sent: --downstream-url \(or SYNC_DOWNSTREAM_URL\) is required .*\(see \S+\/logs\/push-\S+\.ndjson\)\n$/);
    expect(parsePrometheus(readFileSync(metrics, 'utf8')).get('sync_run_exit_code{command="push"}')).toBe(2);
    expect(readdirSync(join(tmp, 'unset', 'logs'))).toStrictEqual([expect.stringMatching(/^push-/)]); // no pull ran
  }, 30_000);
});
