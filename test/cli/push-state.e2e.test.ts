import { type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi, type TestContext } from 'vitest';
import { createDownstreamMock, type DownstreamMockOptions } from '../../src/mock/downstream-server.js';
import { runCli, startServer } from '../helpers/cli.js';
import { holdAnswers, serveMock } from '../helpers/mocks.js';
import { testDir } from '../helpers/tmp.js';

/**
 * What push remembers, seen from outside: the platform's content after A → B → A, a kill between
 * a batch's processing and its answer, a damaged state, and the `sync state` commands.
 */

interface Stats {
  requests: number;
  accepted: number;
  replayed: number;
  deliveredMoreThanOnce: Record<string, number>;
}

const profile = (i: number, firstName = 'Ann') => ({ email: `user${i}@example.com`, firstName, lastName: 'Lee' });
const ndjson = (values: unknown[]) => values.map((value) => JSON.stringify(value)).join('\n') + '\n';
const jsonLines = (text: string) => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);

// Each test has its own platform, folders and state: two run at once (each spawns up to three
// processes at a time; more would only share the two cores thinner).
vi.setConfig({ maxConcurrency: 2 });
// A test of several runs one after the other (each push ~1.3 s of CPU: its start and its state
// keeper's), sharing the machine with the test beside it: over the 20 s default when busy.
const RUNS_IN_A_ROW = 60_000;

/** The platform `sync mock downstream` serves, in the test's own process. */
const platform = (context: TestContext, options: Partial<DownstreamMockOptions> = {}) => serveMock(createDownstreamMock({ random: Math.random, ...options }), context.onTestFinished);

describe.concurrent('push and its state (spawned)', () => {
  const stats = async (server: { url: string }) => (await fetch(`${server.url}/stats`)).json() as Promise<Stats>;
  const held = async (server: { url: string }, email: string) => (await fetch(`${server.url}/profiles?email=${email}`)).json() as Promise<{ firstName: string }>;

  it('A, then B, then A again (three runs) ends with A on a platform that honours Idempotency-Key', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    const env = { SYNC_STATE_DIR: join(tmp(), 'state') };
    const file = join(tmp(), 'profiles.ndjson');
    const push = async (firstName: string) => {
      writeFileSync(file, ndjson([profile(1, firstName)]));
      const result = await runCli(['push', file, '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'], { env });
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { delivered: number; unchanged: number };
    };
    // One profile a run: the third batch holds exactly what the first held.
    expect(await push('Ann')).toMatchObject({ delivered: 1 });
    expect(await push('Bea')).toMatchObject({ delivered: 1 });
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Bea');
    expect(await push('Ann')).toMatchObject({ delivered: 1 });
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Ann');
    // Processed, not answered from the store.
    expect((await stats(mock)).replayed).toBe(0);
    expect(await push('Ann')).toMatchObject({ delivered: 0, unchanged: 1 });
  }, RUNS_IN_A_ROW);

  it('A, B, A again ends with A also when the state forgot the email in between, was reset, or is new each run', async (context) => {
    const tmp = testDir(context.onTestFinished);
    // Each way has a platform of its own, so the three run at once (each one's runs stay in order).
    const wayThrough = async (way: string, between: (stateDir: string, mock: { url: string }) => Promise<void>) => {
      const mock = await platform(context);
      const file = join(tmp(), `${way}.ndjson`);
      const push = async (firstName: string, stateDir: string) => {
        writeFileSync(file, ndjson([profile(1, firstName)]));
        const result = await runCli(['push', file, '--downstream-url', mock.url, '--dead-letter', join(tmp(), `${way}-dl.ndjson`), '--state', stateDir, '--json']);
        expect(result.code, `${way}: ${result.stderr}`).toBe(0);
        expect(JSON.parse(result.stdout), way).toMatchObject({ delivered: 1 });
      };
      const stateDir = join(tmp(), way);
      const next = way === 'a new state each run' ? (() => { let runs = 0; return () => join(stateDir, String(++runs)); })() : () => stateDir;
      await push('Ann', next());
      await between(stateDir, mock);
      await push('Bea', next());
      await between(stateDir, mock);
      await push('Ann', next());
      expect((await held(mock, 'user1@example.com')).firstName, way).toBe('Ann');
      expect((await stats(mock)).replayed, way).toBe(0);
    };
    const forget = async (stateDir: string, mock: { url: string }) => expect((await runCli(['state', 'forget', 'user1@example.com', '--downstream-url', mock.url, '--state', stateDir])).code).toBe(0);
    const reset = async (stateDir: string) => expect((await runCli(['state', 'reset', '--state', stateDir])).code).toBe(0);
    // Each way leaves the state with nothing for the email when A is sent the second time: the
    // batch then holds what the first one held, and must not carry its key.
    await Promise.all([wayThrough('forget', forget), wayThrough('reset', reset), wayThrough('a new state each run', async () => {})]);
  }, RUNS_IN_A_ROW);

  it('two pushes at once that disagree about an email: rerunning either file ends with its version on the platform', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    // The order, held by the platform's answers instead of a latency long enough: Ann's batch is
    // processed but not answered until Bea's has arrived (so Bea opened the state before Ann recorded
    // anything), and Bea's answer waits until Ann's run has recorded its own and ended.
    let batches = 0;
    let beaArrived!: () => void;
    const beaHasArrived = new Promise<void>((resolve) => (beaArrived = resolve));
    let annEnded!: () => void;
    const annHasEnded = new Promise<void>((resolve) => (annEnded = resolve));
    holdAnswers(mock.server, (request) => {
      if (request.method !== 'POST') return undefined;
      batches += 1;
      if (batches === 1) return beaHasArrived;
      if (batches === 2) {
        beaArrived();
        return annHasEnded;
      }
      return undefined;
    });
    const stateDir = join(tmp(), 'state');
    const files = { Ann: join(tmp(), 'ann.ndjson'), Bea: join(tmp(), 'bea.ndjson') };
    writeFileSync(files.Ann, ndjson([profile(1, 'Ann')]));
    writeFileSync(files.Bea, ndjson([profile(1, 'Bea')]));
    const push = (name: keyof typeof files) => runCli(['push', files[name], '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--state', stateDir, '--json'], { timeoutMs: 30_000 });
    const first = push('Ann');
    void first.finally(annEnded);
    // Ann's batch has arrived (and is processed) before Bea's leaves.
    while ((await stats(mock)).requests < 1) await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await push('Bea');
    expect((await first).code).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('accepted from another run sharing this state');
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Bea');

    const rerun = await push('Ann');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ delivered: 1 });
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Ann');
    expect(JSON.parse((await push('Ann')).stdout)).toMatchObject({ unchanged: 1 });
  }, RUNS_IN_A_ROW);

  it('rerunning an unchanged file sends nothing, whatever duplicates it holds (the bundled profiles; an email twice with --batch-size 1)', async (context) => {
    const tmp = testDir(context.onTestFinished);
    // The two files each on a platform and a state of their own: their runs go at once.
    const pusher = async (name: string) => {
      const mock = await platform(context);
      const env = { SYNC_STATE_DIR: join(tmp(), `state-${name}`) };
      const run = async (file: string, ...extra: string[]) => {
        const result = await runCli(['push', file, '--downstream-url', mock.url, '--dead-letter', join(tmp(), `dl-${name}.ndjson`), '--json', ...extra], { env });
        return JSON.parse(result.stdout) as { delivered: number; unchanged: number; duplicates: number };
      };
      return { mock, run };
    };
    const bundled = async () => {
      const { mock, run } = await pusher('bundled');
      const fixture = join(process.cwd(), 'fixtures', 'profiles', 'profiles.ndjson');
      expect((await run(fixture)).delivered).toBeGreaterThan(30);
      const before = await stats(mock);
      expect(await run(fixture)).toMatchObject({ delivered: 0 });
      expect(await run(fixture)).toMatchObject({ delivered: 0 });
      expect(before.requests).toBeGreaterThan(0);
    };
    const twice = async () => {
      const { mock, run } = await pusher('twice');
      const file = join(tmp(), 'twice.ndjson');
      writeFileSync(file, ndjson([profile(1, 'Early'), profile(2), profile(1, 'Late')]));
      expect(await run(file, '--batch-size', '1')).toMatchObject({ delivered: 3 });
      expect((await held(mock, 'user1@example.com')).firstName).toBe('Late');
      const sent = (await stats(mock)).requests;
      expect(await run(file, '--batch-size', '1')).toMatchObject({ delivered: 0, unchanged: 2, duplicates: 1 });
      expect((await stats(mock)).requests).toBe(sent);
      expect((await held(mock, 'user1@example.com')).firstName).toBe('Late');
    };
    await Promise.all([bundled(), twice()]);
  }, RUNS_IN_A_ROW);

  it('A, then B, then A again through serve ends with A', async (context) => {
    const mock = await platform(context);
    const serve = await startServer(['serve', '--port', '0', '--downstream-url', mock.url, '--rate', '20']);
    context.onTestFinished(async () => void (await serve.stop()));
    for (const firstName of ['Ann', 'Bea', 'Ann']) {
      const answer = await fetch(`${serve.url}/profiles`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(profile(1, firstName)) });
      expect(answer.status).toBe(200);
    }
    expect((await held(mock, 'user1@example.com')).firstName).toBe('Ann');
    expect((await stats(mock)).replayed).toBe(0);
  });

  it('killed (-9) after the platform processed its batches and before their answers: the rerun is answered from the idempotency store, nothing is processed twice', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context, { rate: 50 });
    // Every batch of the first run is processed and never answered: its answers wait for its end.
    let firstRunEnded: Promise<unknown> | undefined;
    holdAnswers(mock.server, (request) => (request.method === 'POST' ? firstRunEnded : undefined));
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson(Array.from({ length: 300 }, (_, i) => profile(i))));
    const env = { SYNC_STATE_DIR: join(tmp(), 'state') };
    const args = ['push', file, '--downstream-url', mock.url, '--rate', '20', '--batch-size', '100', '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'];
    const killOnceProcessed = (child: ChildProcess) => {
      const poll = setInterval(() => {
        void stats(mock).then((seen) => {
          if (seen.accepted < 300) return;
          clearInterval(poll);
          child.kill('SIGKILL');
        });
      }, 20);
      child.on('close', () => clearInterval(poll));
    };
    const killedRun = runCli(args, { env, onSpawn: killOnceProcessed });
    firstRunEnded = killedRun;
    const killed = await killedRun;
    firstRunEnded = undefined;
    expect(killed.code).toBeNull();
    expect((await stats(mock)).accepted).toBe(300);

    const rerun = await runCli(args, { env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ delivered: 300, unchanged: 0 });
    const after = await stats(mock);
    expect(after.replayed).toBe(3);
    expect(after.deliveredMoreThanOnce).toEqual({});
  }, RUNS_IN_A_ROW);

  it('a damaged state is exit 2 with one line saying what to do, nothing sent; `sync state reset` moves it aside and push starts afresh', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    const stateDir = join(tmp(), 'state');
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson([profile(1), profile(2)]));
    const args = ['push', file, '--downstream-url', mock.url, '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'];
    expect((await runCli(args, { env: { SYNC_STATE_DIR: stateDir } })).code).toBe(0);
    const data = join(stateDir, 'platform-state', 'data.mdb');
    truncateSync(data, Math.floor(statSync(data).size / 2));
    const sentBefore = (await stats(mock)).requests;

    // A push and a dry run: both refused, at once.
    const refusals = await Promise.all([[], ['--dry-run']].map((extra) => runCli([...args, ...extra], { env: { SYNC_STATE_DIR: stateDir } })));
    for (const refused of refusals) {
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stdout).toBe('');
      const errors = jsonLines(refused.stderr).filter((line) => line.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ exitCode: 2 });
      expect(errors[0]!.msg).toMatch(new RegExp(`^--state ${stateDir}: the state cannot be read \\(the process reading it crashed \\(SIGBUS\\)\\); move it aside with \`sync state reset --state ${stateDir}\``));
    }
    expect((await stats(mock)).requests).toBe(sentBefore);

    const reset = await runCli(['state', 'reset', '--state', stateDir, '--json']);
    expect(reset.code, reset.stderr).toBe(0);
    const { movedTo } = JSON.parse(reset.stdout) as { movedTo: string };
    // The run history stays: a reset forgets what platforms accepted, not what ran.
    expect(readdirSync(stateDir).sort()).toEqual([movedTo.slice(stateDir.length + 1), 'runs.ndjson'].sort());
    const again = await runCli(args, { env: { SYNC_STATE_DIR: stateDir } });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ delivered: 2 });
    expect(jsonLines(again.stderr).find((line) => line.state === stateDir)).toMatchObject({ level: 'warn', remembered: 0 });
  }, RUNS_IN_A_ROW);

  it('every run says which state it uses and how much it remembers; `sync state show` and `forget` read and change it', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    const stateDir = join(tmp(), 'state');
    const env = { SYNC_STATE_DIR: stateDir, SYNC_DOWNSTREAM_URL: mock.url };
    const file = join(tmp(), 'profiles.ndjson');
    writeFileSync(file, ndjson([profile(1), profile(2), profile(3)]));
    const push = () => runCli(['push', file, '--dead-letter', join(tmp(), 'dl.ndjson'), '--json'], { env });
    // Two runs that touch no state this test reads, started now and checked at the end: a usage
    // error, and a forget --all on a state that does not exist (which must not create it).
    expect(existsSync(join(tmp(), 'nowhere'))).toBe(false);
    const aside = Promise.all([
      runCli(['state', 'forget', '--all', 'user1@example.com'], { env }),
      runCli(['state', 'forget', '--all', '--json'], { env: { ...env, SYNC_STATE_DIR: join(tmp(), 'nowhere') } }),
    ]);

    const first = await push();
    expect(jsonLines(first.stderr).find((line) => line.state === stateDir)).toMatchObject({ level: 'warn', remembered: 0, msg: expect.stringContaining(`new state created in ${stateDir}`) });
    const second = await push();
    expect(JSON.parse(second.stdout)).toMatchObject({ unchanged: 3, delivered: 0 });
    expect(jsonLines(second.stderr).find((line) => line.state === stateDir)).toMatchObject({ level: 'info', remembered: 3 });

    const before = Date.now();
    const shown = await runCli(['state', 'show', 'USER1@example.com ', 'nobody@example.com'], { env });
    expect(shown.code, shown.stderr).toBe(0);
    const [one, nobody] = jsonLines(shown.stdout);
    expect(one).toMatchObject({ email: 'user1@example.com', remembered: true });
    expect(Date.parse(one!.acceptedAt as string)).toBeLessThanOrEqual(before);
    expect(nobody).toEqual({ email: 'nobody@example.com', remembered: false });

    // For a person (pretty logs): the one sentence, not also the log line saying the same.
    const forgot = await runCli(['state', 'forget', 'user2@example.com', '--log-format', 'pretty'], { env });
    expect(forgot.code, forgot.stderr).toBe(0);
    expect(forgot.stderr).toBe(`Forgot 1 profile of ${mock.url}: the next push sends it again.\n`);
    expect(JSON.parse((await push()).stdout)).toMatchObject({ unchanged: 2, delivered: 1 });

    const all = await runCli(['state', 'forget', '--all', '--json'], { env });
    expect(JSON.parse(all.stdout)).toMatchObject({ forgotten: 3 });
    expect(JSON.parse((await push()).stdout)).toMatchObject({ unchanged: 0, delivered: 3 });
    const [both, nowhere] = await aside;
    expect(both.code).toBe(2);
    expect(JSON.parse(nowhere.stdout)).toMatchObject({ forgotten: 0 });
    expect(existsSync(join(tmp(), 'nowhere'))).toBe(false);
  }, RUNS_IN_A_ROW);

  // An exported but empty SYNC_STATE_DIR (a crontab's `SYNC_STATE_DIR=`) reached commander as '':
  // `state reset` moved the working directory's platform-state aside, push said only ENOENT. Here a
  // push through the real launcher (which starts its state process ahead); every other command that
  // takes --state, and --state=, in process: test/state/state-dir.test.ts.
  it('an empty SYNC_STATE_DIR is refused (exit 2) by a spawned push, naming the variable; nothing in the working directory is touched', async (context: TestContext) => {
    const tmp = testDir(context.onTestFinished);
    mkdirSync(join(tmp(), 'platform-state'));
    const run = await runCli(['push', join(tmp(), 'missing.ndjson'), '--downstream-url', 'http://127.0.0.1:9'], { env: { SYNC_STATE_DIR: '' }, cwd: tmp() });
    expect({ code: run.code, env: /SYNC_STATE_DIR/.test(run.stderr) }).toEqual({ code: 2, env: true });
    expect(readdirSync(tmp()).sort()).toEqual(['platform-state']);
  });
});
