import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it, vi, type TestContext } from 'vitest';
import { createDownstreamMock, type DownstreamMockOptions } from '../../src/mock/downstream-server.js';
import { runCli } from '../helpers/cli.js';
import { serveMock, spawnMock } from '../helpers/mocks.js';
import { testDir, useTempDir } from '../helpers/tmp.js';
import { tryMountTmpfs } from '../helpers/tmpfs.js';

/**
 * What the product promises under the faults a cron box sees: kill -9, Ctrl-C, two runs at once,
 * a full disk, poison records. Each test spawns the real CLI against the real mock platform and
 * asserts what the platform and the files hold afterwards, not only the exit code.
 */

interface Stats {
  requests: number;
  accepted: number;
  replayed: number;
  rateLimited: number;
  deliveredMoreThanOnce: Record<string, number>;
}

interface Mock {
  url: string;
}

const get = async <T,>(server: Mock, path: string): Promise<T> => (await fetch(`${server.url}${path}`)).json() as Promise<T>;
const stats = (server: Mock) => get<Stats>(server, '/stats');
const acceptedEmails = async (server: Mock) => new Set((await get<{ emails: string[] }>(server, '/accepted')).emails);
const extraCopies = (s: Stats) => Object.values(s.deliveredMoreThanOnce).reduce((sum, times) => sum + times - 1, 0);

const profile = (i: number, firstName = 'Ann') => ({ email: `user${i}@example.com`, firstName, lastName: 'Lee' });
const ndjson = (values: unknown[]) => values.map((value) => (typeof value === 'string' ? value : JSON.stringify(value))).join('\n') + '\n';
const readLines = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);
/** A moment somewhere in the middle of a run that sends for about 1.5–2 s. */
const randomMoment = () => Math.floor(Math.random() * 1000);

/** Sends `signal` `delayMs` after the child's first batch is answered: mid-run however slow its start. */
function stopMidRun(child: ChildProcess, signal: NodeJS.Signals, delayMs: number): void {
  const onData = (chunk: Buffer) => {
    if (!chunk.toString().includes('"stage":"send"')) return;
    child.stderr!.off('data', onData);
    setTimeout(() => child.kill(signal), delayMs);
  };
  child.stderr!.on('data', onData);
}

// Each test has its own platform (the one `sync mock downstream` serves, in the test's process),
// folders and state: two run at once.
vi.setConfig({ maxConcurrency: 2 });
// A test of several runs one after the other (each push ~1.3 s of CPU: its start and its state
// keeper's) or of thousands of profiles at 20 a second, next to another test on a busy machine: over
// the 20 s default.
const LONG_RUN = 60_000;

describe.concurrent('sync push under faults (spawned)', () => {
  const platform = (context: TestContext, options: Partial<DownstreamMockOptions> = {}) => serveMock(createDownstreamMock({ random: Math.random, ...options }), context.onTestFinished);

  it('kill -9 at a random moment, then the same command: every profile delivered, repeats bounded by the batches in flight', async (context) => {
    const tmp = testDir(context.onTestFinished);
    // The platform in a process of its own, not on this worker's event loop: it counts arrivals
    // against a 20-a-second limit that the run paces with 20 ms of margin, and this loop, shared
    // with the file's other tests, ran 31–35 ms late at worst with one core busy: a 429 in CI.
    const mock = await spawnMock(['downstream', '--rate', '20', '--latency', '60'], context.onTestFinished);
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson(Array.from({ length: 4000 }, (_, i) => profile(i))));
    const env = { SYNC_STATE_DIR: join(tmp(), 'state') };
    const args = ['push', file, '--downstream-url', mock.url, '--rate', '20', '--batch-size', '100', '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'];

    const killAt = randomMoment();
    const killed = await runCli(args, { env, onSpawn: (child) => stopMidRun(child, 'SIGKILL', killAt) });
    const seenBefore = await stats(mock);
    const rerun = await runCli(args, { env });
    const why = `killed ${killAt} ms after the first batch (exit ${killed.code}); before the rerun the platform had ${seenBefore.accepted}`;
    expect(rerun.code, `${why}\n${rerun.stderr}`).toBe(0);

    const summary = JSON.parse(rerun.stdout);
    const after = await stats(mock);
    expect((await acceptedEmails(mock)).size, why).toBe(4000);
    // At 20 requests/s and 60 ms latency two batches are in flight at most; one more may have been
    // answered in the instant before its state commit. That is the most that may go twice.
    expect(extraCopies(after), why).toBeLessThanOrEqual(300);
    expect(summary.unchanged, why).toBeGreaterThanOrEqual(seenBefore.accepted - 300);
    expect(summary.unchanged + summary.delivered).toBe(4000);
    expect(after.rateLimited, `${why}; 429s before it: ${seenBefore.rateLimited}`).toBe(0);
  }, LONG_RUN);

  it.for(['SIGINT', 'SIGKILL'] as const)('a replay of the dead-letter file onto itself, stopped by %s, loses no line', { timeout: LONG_RUN }, async (signal, context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context, { rate: 20, latencyMs: 50 });
    const deadLetter = join(tmp(), 'dead-letter.ndjson');
    const records = Array.from({ length: 3000 }, (_, i) => profile(i));
    writeFileSync(deadLetter, ndjson(records.map((record, i) => ({ line: i + 1, class: 'server', reason: 'HTTP 503', record }))));
    const env = { SYNC_STATE_DIR: join(tmp(), 'state') };
    const args = ['push', deadLetter, '--dead-letter', deadLetter, '--downstream-url', mock.url, '--rate', '20', '--batch-size', '100'];

    const stopAt = randomMoment();
    const stopped = await runCli(args, { env, onSpawn: (child) => stopMidRun(child, signal, stopAt) });
    const why = `${signal} ${stopAt} ms after the first batch`;
    if (signal === 'SIGINT') {
      expect(stopped.code, why).toBe(130);
      expect(stopped.stderr, why).toMatch(/interrupted at line \d+ of .*dead-letter\.ndjson: run the same command again/);
    }

    const lines = readLines(deadLetter);
    const kept = new Set(lines.map((line) => (JSON.parse(line) as { record: { email: string } }).record.email));
    const delivered = await acceptedEmails(mock);
    const lost = records.filter((record) => !kept.has(record.email) && !delivered.has(record.email));
    expect(lost, why).toEqual([]);

    // The same command again finishes the job, and the file keeps only what is still undelivered: nothing.
    const rerun = await runCli(args, { env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect((await acceptedEmails(mock)).size).toBe(3000);
    expect(readLines(deadLetter)).toEqual([]);
  });

  it('three replays of one dead-letter file at once: every record is delivered or still in the file', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context, { rate: 100, latencyMs: 20 });
    const deadLetter = join(tmp(), 'dead-letter.ndjson');
    const valid = Array.from({ length: 1000 }, (_, i) => profile(i));
    const invalid = Array.from({ length: 200 }, (_, i) => ({ email: `invalid${i}`, firstName: 'X', lastName: 'Y' }));
    writeFileSync(deadLetter, ndjson([...valid, ...invalid].map((record, i) => ({ line: i + 1, class: 'server', reason: 'HTTP 503', record }))));
    const env = { SYNC_STATE_DIR: join(tmp(), 'state') };
    const replay = (delayMs: number) =>
      new Promise<void>((resolve) => setTimeout(resolve, delayMs)).then(() =>
        runCli(['push', deadLetter, '--dead-letter', deadLetter, '--downstream-url', mock.url, '--rate', '20', '--batch-size', '100', '--json'], { env }),
      );
    const results = await Promise.all([replay(0), replay(150), replay(300)]);
    expect(results.map((result) => result.code)).toEqual([3, 3, 3]);

    const inFile = new Set(readLines(deadLetter).map((line) => (JSON.parse(line) as { record: { email: string } }).record.email));
    const delivered = await acceptedEmails(mock);
    // The invalid ones can never be delivered: each must still be in the file.
    expect(invalid.filter((record) => !inFile.has(record.email))).toEqual([]);
    expect(valid.filter((record) => !inFile.has(record.email) && !delivered.has(record.email))).toEqual([]);
  }, LONG_RUN);

  it('two runs at once share one dead-letter file: both keep every line', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context, { rate: 100, latencyMs: 20 });
    const deadLetter = join(tmp(), 'dead-letter.ndjson');
    const earlier = Array.from({ length: 5 }, (_, i) => JSON.stringify({ line: i + 1, class: 'client', reason: 'earlier run', record: { email: `old${i}` } }));
    writeFileSync(deadLetter, `${earlier.join('\n')}\n`);
    // 200 profiles each, 10 of them on the platform's suppression list: rejected one batch at a time.
    const file = (name: string) => {
      const path = join(tmp(), `${name}.ndjson`);
      writeFileSync(path, ndjson(Array.from({ length: 200 }, (_, i) => (i % 20 === 7 ? { email: `${name}${i}@suppressed.example`, firstName: 'S', lastName: 'P' } : { ...profile(i), email: `${name}${i}@example.com` }))));
      return path;
    };
    const run = (name: string) =>
      runCli(['push', file(name), '--downstream-url', mock.url, '--rate', '40', '--batch-size', '10', '--dead-letter', deadLetter, '--json'], {
        env: { SYNC_STATE_DIR: join(tmp(), `state-${name}`) },
      });
    const [a, b] = await Promise.all([run('a'), run('b')]);
    expect([a.code, b.code]).toEqual([3, 3]);
    expect([JSON.parse(a.stdout).deadLettered, JSON.parse(b.stdout).deadLettered]).toEqual([10, 10]);

    const lines = readLines(deadLetter);
    expect(lines).toHaveLength(25);
    expect(lines.slice(0, 5)).toEqual(earlier);
    const emails = lines.slice(5).map((line) => (JSON.parse(line) as { record: { email: string } }).record.email);
    expect(emails.filter((email) => email.startsWith('a')).sort()).toHaveLength(10);
    expect(emails.filter((email) => email.startsWith('b')).sort()).toHaveLength(10);
  });

  it('a full disk under the dead-letter file: exit 1, one line naming the file, and no dead letter claimed that is not there', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    const input = join(tmp(), 'invalid.ndjson');
    // 600 invalid records, ~170 bytes of dead letter each: about 100 KB, far over a 16 KB disk.
    writeFileSync(input, ndjson(Array.from({ length: 600 }, (_, i) => ({ email: `not-an-email-${i}`, firstName: 'Bad', lastName: 'Email' }))));
    const disk = join(tmp(), 'small-disk');
    mkdirSync(disk);
    if (!tryMountTmpfs(disk, '16k')) {
      // eslint-disable-next-line no-console -- the skip must be visible in the test output
      console.warn('skipped: mounting a small tmpfs needs root (CI runs as root)');
      context.skip();
    }
    const deadLetter = join(disk, 'dl.ndjson');
    try {
      const result = await runCli(['push', input, '--downstream-url', mock.url, '--dead-letter', deadLetter, '--json']);
      expect(result.code, result.stderr).toBe(1);
      const errors = result.stderr.split('\n').filter((line) => line.includes('"level":"error"'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(`${deadLetter}: no space left on device (ENOSPC)`);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      const summary = JSON.parse(result.stdout);
      const lines = readLines(deadLetter);
      expect(lines.length).toBeGreaterThan(0);
      // Every line the summary claims is there, whole.
      const whole = lines.filter((line) => {
        try {
          return (JSON.parse(line) as { line: number }).line > 0;
        } catch {
          return false;
        }
      });
      expect(summary.deadLettered).toBe(whole.length);

      // The same full disk under --metrics-file, after a run that delivered everything: exit 1
      // and a line naming the file, and the summary is still printed.
      const good = join(tmp(), 'good.ndjson');
      writeFileSync(good, ndjson([profile(1)]));
      const metrics = await runCli(['push', good, '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl2.ndjson'), '--metrics-file', join(disk, 'm.prom'), '--json']);
      expect(metrics.code, metrics.stderr).toBe(1);
      expect(JSON.parse(metrics.stdout)).toMatchObject({ delivered: 1 });
      expect(metrics.stderr).toMatch(/m\.prom: no space left on device \(ENOSPC\)/);
    } finally {
      execFileSync('umount', [disk]);
    }
  }, LONG_RUN);

  it('a state directory on a full disk is refused before the first request, in one line (never a SIGBUS)', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    const disk = join(tmp(), 'state-disk');
    mkdirSync(disk);
    if (!tryMountTmpfs(disk, '16k')) {
      // eslint-disable-next-line no-console -- the skip must be visible in the test output
      console.warn('skipped: mounting a small tmpfs needs root (CI runs as root)');
      context.skip();
    }
    try {
      const input = join(tmp(), 'p.ndjson');
      writeFileSync(input, ndjson([profile(1)]));
      const result = await runCli(['push', input, '--downstream-url', mock.url, '--state', join(disk, 'state'), '--dead-letter', join(tmp(), 'dl.ndjson')]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/--state .*state: not enough free space/);
      expect((await stats(mock)).requests).toBe(0);
    } finally {
      execFileSync('umount', [disk]);
    }
  });

  it('a record nested 10,000 levels deep is one dead letter; the records around it are delivered, and a replay keeps its line', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    const deep = `{"email":"deep@example.com","firstName":"D","lastName":"E","metadata":{"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;
    const input = join(tmp(), 'poison.ndjson');
    writeFileSync(input, ndjson([profile(1), profile(2), deep, profile(3), profile(4)]));
    const deadLetter = join(tmp(), 'dl.ndjson');
    const env = { SYNC_STATE_DIR: join(tmp(), 'state') };
    const result = await runCli(['push', input, '--downstream-url', mock.url, '--dead-letter', deadLetter, '--json'], { env });
    expect(result.code, result.stderr).toBe(3);
    expect(JSON.parse(result.stdout)).toMatchObject({ total: 5, delivered: 4, invalid: 1, deadLettered: 1 });
    const [letter] = readLines(deadLetter);
    // Its own line, its reason, and the record as read (spliced, never re-serialized).
    expect(letter).toMatch(/^\{"line":3,"runId":"[0-9a-f]{8}","at":"\d{4}-\d\d-\d\dT[\d:.]+Z","class":"client","reason":"metadata\.x(\.0)+: is nested more than 32 levels deep","record":/);
    expect(letter!.endsWith(`"record":${deep}}`)).toBe(true);

    const replay = await runCli(['push', deadLetter, '--downstream-url', mock.url, '--dead-letter', deadLetter, '--json'], { env });
    expect(replay.code, replay.stderr).toBe(3);
    // The same line, record spliced as read, stamped by the replaying run.
    const replayed = readLines(deadLetter);
    const stamp = /"runId":"([0-9a-f]{8})","at":"[^"]+",/;
    expect(replayed).toHaveLength(1);
    expect(replayed[0]!.replace(stamp, '') === letter!.replace(stamp, '')).toBe(true);
    expect(stamp.exec(replayed[0]!)![1]).not.toBe(stamp.exec(letter!)![1]);
  }, LONG_RUN);

  it('records that are not JSON, too large or not UTF-8 are dead-lettered with their text, and reading goes on', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    const big = JSON.stringify({ ...profile(9), metadata: { note: 'x'.repeat(120 * 1024) } });
    const input = join(tmp(), 'mixed.ndjson');
    writeFileSync(
      input,
      Buffer.concat([
        Buffer.from(`["oops"]\n${JSON.stringify(profile(1))}\n{"email":"bad@example.com","firstName":"`),
        Buffer.from([0xc3, 0x28]),
        Buffer.from(`","lastName":"X"}\n${big}\n${JSON.stringify(profile(2))}\n`),
      ]),
    );
    const deadLetter = join(tmp(), 'dl.ndjson');
    const result = await runCli(['push', input, '--downstream-url', mock.url, '--dead-letter', deadLetter, '--json']);
    expect(result.code, result.stderr).toBe(3);
    expect(JSON.parse(result.stdout)).toMatchObject({ total: 5, delivered: 2, invalid: 3, deadLettered: 3 });
    const letters = readLines(deadLetter).map((line) => JSON.parse(line) as { line: number; reason: string; record: unknown });
    expect(letters.map((letter) => letter.line)).toEqual([1, 3, 4]);
    expect(letters[0]!.record).toEqual(['oops']);
    expect(letters[1]!.reason).toMatch(/not valid UTF-8/);
    expect(letters[1]!.record).toBe('{"email":"bad@example.com","firstName":"\uFFFD(","lastName":"X"}');
    expect(letters[2]!.reason).toMatch(/larger than 100 KB/);
    // The original text, whole: fix it and replay it.
    expect(letters[2]!.record).toBe(big);
  });

  it('--dry-run sends nothing and writes nothing, even with the URL in the environment', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    const input = join(tmp(), 'p.ndjson');
    writeFileSync(input, ndjson([profile(1), profile(2), { email: 'bad' }]));
    const stateDir = join(tmp(), 'state');
    const deadLetter = join(tmp(), 'dl.ndjson');
    const result = await runCli(['push', input, '--dry-run', '--dead-letter', deadLetter, '--report', join(tmp(), 'r.ndjson')], {
      env: { SYNC_DOWNSTREAM_URL: mock.url, SYNC_STATE_DIR: stateDir },
    });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stdout.trim().split('\n').map((line) => JSON.parse(line).email)).toEqual(['user1@example.com', 'user2@example.com']);
    expect((await stats(mock)).requests).toBe(0);
    expect([existsSync(deadLetter), existsSync(join(tmp(), 'r.ndjson')), existsSync(stateDir)]).toEqual([false, false, false]);
  });

  it('incremental by default: a second run sends nothing, a 1% change sends exactly the 1%, --full sends all', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context, { rate: 50 });
    const input = join(tmp(), 'p.ndjson');
    const env = { SYNC_STATE_DIR: join(tmp(), 'state') };
    const deadLetter = join(tmp(), 'dead-letter.ndjson');
    const push = async (...extra: string[]) => {
      const before = await stats(mock);
      const result = await runCli(['push', input, '--downstream-url', mock.url, '--rate', '50', '--json', '--dead-letter', deadLetter, ...extra], { env });
      expect(result.code, result.stderr).toBe(0);
      return { summary: JSON.parse(result.stdout), accepted: (await stats(mock)).accepted - before.accepted };
    };
    const people = Array.from({ length: 1000 }, (_, i) => profile(i));
    writeFileSync(input, ndjson(people));
    expect((await push()).summary).toMatchObject({ delivered: 1000, unchanged: 0 });
    const second = await push();
    expect(second.summary).toMatchObject({ delivered: 0, unchanged: 1000, requests: 0 });
    expect(second.accepted).toBe(0);

    writeFileSync(input, ndjson(people.map((person, i) => (i % 100 === 0 ? { ...person, firstName: 'Changed' } : person))));
    const third = await push();
    expect(third.summary).toMatchObject({ delivered: 10, unchanged: 990 });
    expect(third.accepted).toBe(10);
    expect((await push('--full')).summary).toMatchObject({ delivered: 1000, unchanged: 0 });
  }, LONG_RUN);

  // The other unusable paths (a directory, one file named twice, /dev/full…), in process: push.test.ts.
  it('unusable output paths stop the run before the first request (exit 2, one line)', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    const input = join(tmp(), 'p.ndjson');
    writeFileSync(input, ndjson([profile(1)]));
    const notADir = join(tmp(), 'file');
    writeFileSync(notADir, 'x');
    // Through the real launcher: its state process, started ahead, is withdrawn with the refusal.
    const cases: [string[], RegExp][] = [
      [['--dead-letter', '/no/such/dir/dl.ndjson'], /--dead-letter \/no\/such\/dir\/dl\.ndjson: its folder \/no\/such\/dir does not exist/],
      [['--state', notADir], /--state .*file: cannot create the state \(not a directory\)/],
    ];
    // Each refused on its own: all at once.
    const results = await Promise.all(cases.map(([extra]) => runCli(['push', input, '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), ...extra])));
    for (const [i, [extra, message]] of cases.entries()) {
      const result = results[i]!;
      expect(result.code, `${extra.join(' ')}\n${result.stderr}`).toBe(2);
      expect(result.stderr.trim().split('\n'), extra.join(' ')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
    expect((await stats(mock)).requests).toBe(0);
  }, LONG_RUN);
});

describe('sync pull: an unusable --out stops the run before the first request', () => {
  const tmp = useTempDir();

  it('exit 2 and no request for a missing folder, a directory, or --metrics-file in a missing folder', async () => {
    let requests = 0;
    const source = createServer((req, res) => {
      requests += 1;
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
    const { port } = source.address() as { port: number };
    try {
      const cases = [['--out', '/missing/dir/x.json'], ['--out', tmp()], ['--out', join(tmp(), 'x.json'), '--metrics-file', '/missing/dir/m.prom']];
      // Each refused on its own: all at once.
      const results = await Promise.all(cases.map((extra) => runCli(['pull', '--base-url', `http://127.0.0.1:${port}/api`, '--max-retries', '0', ...extra])));
      for (const [i, extra] of cases.entries()) {
        const result = results[i]!;
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(result.stderr).toMatch(new RegExp(`${extra.at(-2)} ${extra.at(-1)}`));
      }
      expect(requests).toBe(0);
    } finally {
      source.close();
    }
  });
});
