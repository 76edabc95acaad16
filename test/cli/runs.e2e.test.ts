import type { ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi, type TestContext } from 'vitest';
import { createDownstreamMock, type DownstreamMockOptions } from '../../src/mock/downstream-server.js';
import { createReqresMock, loadUsers } from '../../src/mock/reqres-server.js';
import { runCli } from '../helpers/cli.js';
import { serveMock } from '../helpers/mocks.js';
import { testDir } from '../helpers/tmp.js';

/**
 * "What happened last night?" from outside: the run history every push and pull appends to, what
 * `sync runs` shows of it, and the runId that ties a run's dead letters and report lines to it.
 */

const FIXTURE = fileURLToPath(new URL('../../fixtures/profiles/profiles.ndjson', import.meta.url));
const profile = (i: number) => ({ email: `user${i}@example.com`, firstName: 'Ann', lastName: 'Lee' });
const ndjson = (values: unknown[]) => values.map((value) => JSON.stringify(value)).join('\n') + '\n';
const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
const readJsonLines = (path: string) => (existsSync(path) ? jsonLines(readFileSync(path, 'utf8')) : []);

/** Sends SIGINT once the child has sent its first batch: mid-run however slow its start. */
function interruptMidRun(child: ChildProcess): void {
  const onData = (chunk: Buffer) => {
    if (!chunk.toString().includes('"stage":"send"')) return;
    child.stderr!.off('data', onData);
    child.kill('SIGINT');
  };
  child.stderr!.on('data', onData);
}

// Each test has its own simulators (the ones `sync mock downstream|reqres` serve, in the test's
// process), folders and state: two run at once.
vi.setConfig({ maxConcurrency: 2 });
// Eight runs one after the other (each push ~1.3 s of CPU: its start and its state keeper's), next
// to another test on a busy machine: over the 20 s default.
const EIGHT_RUNS = 60_000;

const platform = (context: TestContext, options: Partial<DownstreamMockOptions> = {}) => serveMock(createDownstreamMock({ random: Math.random, ...options }), context.onTestFinished);
// `sync mock reqres`'s defaults: 6 users a page, 10 requests a second.
const reqres = (context: TestContext) => serveMock(createReqresMock({ users: loadUsers(), perPage: 6, rate: 10, random: Math.random }), context.onTestFinished);

describe.concurrent('the run history and sync runs (spawned)', () => {
  const runs = async (stateDir: string, ...args: string[]) => {
    const result = await runCli(['runs', '--state', stateDir, ...args]);
    expect(result.code, result.stderr).toBe(0);
    return result;
  };

  it('two pushes on one day: their dead letters and report lines are told apart by runId, the same as in the history and the logs', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context);
    const stateDir = join(tmp(), 'state');
    const deadLetter = join(tmp(), 'dead-letter.ndjson');
    const report = join(tmp(), 'report.ndjson');
    const push = async () => {
      const result = await runCli(['push', FIXTURE, '--downstream-url', mock.url, '--dead-letter', deadLetter, '--report', report, '--state', stateDir, '--json']);
      expect(result.code, result.stderr).toBe(3);
      return { runId: jsonLines(result.stderr)[0]!.runId as string, summary: JSON.parse(result.stdout) as { total: number; deadLettered: number } };
    };
    const first = await push();
    const second = await push();
    expect(first.runId).not.toBe(second.runId);

    const letters = readJsonLines(deadLetter);
    const reported = readJsonLines(report);
    const history = jsonLines((await runs(stateDir, '--json')).stdout);
    expect(history.map((run) => run.runId)).toEqual([first.runId, second.runId]);
    for (const [run, { summary }] of [
      [history[0]!, first],
      [history[1]!, second],
    ] as const) {
      const started = Date.parse(run.startedAt as string);
      const ended = started + (run.durationMs as number);
      const ofRun = (lines: Record<string, unknown>[]) => lines.filter((line) => line.runId === run.runId);
      expect(ofRun(letters)).toHaveLength(summary.deadLettered);
      expect(ofRun(reported)).toHaveLength(summary.total);
      // Each line was written during its own run.
      for (const line of [...ofRun(letters), ...ofRun(reported)]) {
        expect(Date.parse(line.at as string)).toBeGreaterThanOrEqual(started);
        expect(Date.parse(line.at as string)).toBeLessThanOrEqual(ended);
      }
    }
    // Nothing unstamped: every line is one of the two runs'.
    expect(letters).toHaveLength(first.summary.deadLettered + second.summary.deadLettered);
    expect(reported).toHaveLength(first.summary.total + second.summary.total);
  });

  it('after a pull, a push with exit 3, an interrupted push and one that could not start, sync runs lists all four, newest last', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const [source, mock] = await Promise.all([reqres(context), platform(context, { latencyMs: 300 })]);
    const stateDir = join(tmp(), 'state');
    const env = { SYNC_STATE_DIR: stateDir };
    const dl = ['--dead-letter', join(tmp(), 'dl.ndjson')];

    const pull = await runCli(['pull', '--base-url', `${source.url}/api`, '--out', join(tmp(), 'customers.json')], { env });
    expect(pull.code, pull.stderr).toBe(0);
    const partial = await runCli(['push', FIXTURE, '--downstream-url', mock.url, ...dl], { env });
    expect(partial.code, partial.stderr).toBe(3);
    const big = join(tmp(), 'big.ndjson');
    writeFileSync(big, ndjson(Array.from({ length: 2000 }, (_, i) => profile(i))));
    const interrupted = await runCli(['push', big, '--downstream-url', mock.url, '--batch-size', '10', ...dl], { env, onSpawn: interruptMidRun });
    expect(interrupted.code, interrupted.stderr).toBe(130);
    const unstarted = await runCli(['push', join(tmp(), 'missing.ndjson'), '--downstream-url', mock.url, ...dl], { env });
    expect(unstarted.code, unstarted.stderr).toBe(2);

    const listed = (await runs(stateDir)).stdout.trim().split('\n');
    expect(listed).toHaveLength(4);
    const timestamp = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}/;
    for (const line of listed) expect(line).toMatch(timestamp);
    expect(listed[0]).toMatch(new RegExp(`  pull  ${source.url}/api  exit 0 \\(done\\)  exported 24 · pages \\d+.*  \\d+\\.\\d s  run [0-9a-f]{8}$`));
    expect(listed[1]).toMatch(new RegExp(`  push  ${mock.url}  exit 3 \\(finished, some records rejected\\)  delivered 35 of 47 · invalid 8 · duplicates 1 · rejected 3 · dead-lettered 11  `));
    expect(listed[2]).toMatch(new RegExp(`  push  ${mock.url}  exit 130 \\(interrupted\\)  delivered \\d+ of \\d+`));
    expect(listed[3]).toMatch(new RegExp(`  push  ${mock.url}  exit 2 \\(could not start\\)  no summary  `));

    const raw = jsonLines((await runs(stateDir, '--json')).stdout);
    expect(raw.map((run) => [run.command, run.exitCode])).toEqual([
      ['pull', 0],
      ['push', 3],
      ['push', 130],
      ['push', 2],
    ]);
    for (const run of raw) expect(Object.keys(run)).toEqual(['runId', 'command', 'startedAt', 'durationMs', 'exitCode', 'platform', 'summary']);
    // Each run's id is the one its own log lines carry.
    expect(raw.map((run) => run.runId)).toEqual([pull, partial, interrupted, unstarted].map((result) => jsonLines(result.stderr)[0]!.runId));
    expect(raw[1]!.summary).toMatchObject({ total: 47, delivered: 35, rejected: 3, deadLettered: 11 });
    expect(raw[3]!.summary).toBeNull();
    expect(jsonLines((await runs(stateDir, '--json', '--last', '2')).stdout).map((run) => run.exitCode)).toEqual([130, 2]);
  }, EIGHT_RUNS);

  it('two pushes at once both record their line', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const mock = await platform(context, { latencyMs: 50 });
    const stateDir = join(tmp(), 'state');
    const files = [0, 1].map((n) => {
      const file = join(tmp(), `p${n}.ndjson`);
      writeFileSync(file, ndjson(Array.from({ length: 200 }, (_, i) => profile(n * 1000 + i))));
      return file;
    });
    const results = await Promise.all(
      files.map((file, n) => runCli(['push', file, '--downstream-url', mock.url, '--batch-size', '50', '--dead-letter', join(tmp(), `dl${n}.ndjson`), '--state', stateDir])),
    );
    expect(results.map((result) => result.code)).toEqual([0, 0]);
    const raw = jsonLines((await runs(stateDir, '--json')).stdout);
    expect(new Set(raw.map((run) => run.runId))).toEqual(new Set(results.map((result) => jsonLines(result.stderr)[0]!.runId)));
    expect(raw.map((run) => (run.summary as { delivered: number }).delivered)).toEqual([200, 200]);
  });

  it('a dry run is not recorded; a damaged line is skipped with a warning; no history yet is said, not an error', async (context) => {
    const tmp = testDir(context.onTestFinished);
    const stateDir = join(tmp(), 'state');
    // Neither writes a history: the two at once.
    const [none, dry] = await Promise.all([runs(stateDir), runCli(['push', FIXTURE, '--dry-run', '--state', stateDir])]);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain(`no run history in ${stateDir} yet`);
    expect(dry.code, dry.stderr).toBe(3);
    expect(existsSync(join(stateDir, 'runs.ndjson'))).toBe(false);

    const unstarted = await runCli(['push', join(tmp(), 'missing.ndjson'), '--downstream-url', 'http://127.0.0.1:9', '--state', stateDir]);
    expect(unstarted.code).toBe(2);
    // A run killed while writing its line, then the next run's line.
    appendFileSync(join(stateDir, 'runs.ndjson'), '{"runId":"cut sh');
    await runCli(['push', join(tmp(), 'missing.ndjson'), '--downstream-url', 'http://127.0.0.1:9', '--state', stateDir]);
    const listed = await runs(stateDir);
    expect(listed.stdout.trim().split('\n')).toHaveLength(2);
    const warnings = jsonLines(listed.stderr).filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/runs\.ndjson: skipped the line at byte \d+: not valid JSON$/);

    // Many damaged lines: the first few are named, the rest counted.
    appendFileSync(join(stateDir, 'runs.ndjson'), 'x\n'.repeat(8));
    const many = await runs(stateDir);
    expect(many.stdout.trim().split('\n')).toHaveLength(2);
    const told = jsonLines(many.stderr).filter((line) => line.level === 'warn').map((line) => line.msg as string);
    expect(told).toHaveLength(6);
    expect(told.at(-1)).toMatch(/runs\.ndjson: skipped 9 damaged lines in all$/);
  });

  it('pull records its runs too, in --state or SYNC_STATE_DIR; a state directory that cannot hold the history stops it before the first request', async (context) => {
    const tmp = testDir(context.onTestFinished);
    // A source that only counts: the refused pull must not reach it.
    let requests = 0;
    const counter = createServer((_request, response) => ((requests += 1), response.writeHead(503).end()));
    await new Promise<void>((listening) => counter.listen(0, '127.0.0.1', listening));
    const notADir = join(tmp(), 'file');
    writeFileSync(notADir, 'x');
    try {
      const refused = await runCli(['pull', '--base-url', `http://127.0.0.1:${(counter.address() as AddressInfo).port}/api`, '--out', join(tmp(), 'c.json'), '--state', notADir]);
      expect(refused.code).toBe(2);
      expect(jsonLines(refused.stderr).map((line) => line.msg)).toEqual([`--state ${notADir}: cannot create the state (not a directory)`]);
      expect(requests).toBe(0);
    } finally {
      await new Promise((closed) => counter.close(closed));
    }

    const source = await reqres(context);

    const stateDir = join(tmp(), 'new', 'state');
    const pulled = await runCli(['pull', '--base-url', `${source.url}/api`, '--out', join(tmp(), 'c.json')], { env: { SYNC_STATE_DIR: stateDir } });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(jsonLines((await runs(stateDir, '--json')).stdout)).toEqual([expect.objectContaining({ command: 'pull', exitCode: 0, platform: `${source.url}/api` })]);
  });
});
