import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServer, type RunningServer } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/profiles/profiles.ndjson', import.meta.url));
const SUMMARY_KEYS = ['total', 'valid', 'invalid', 'duplicates', 'unchanged', 'delivered', 'rejected', 'failed', 'batches', 'requests', 'retries', 'rateLimited', 'deadLettered', 'durationMs'];

describe('sync push against sync mock downstream (spawned)', () => {
  const tmp = useTempDir();
  let platform: RunningServer;

  beforeAll(async () => {
    platform = await startServer(['mock', 'downstream', '--port', '0', '--fail-rate', '0.2', '--seed', '3', '--latency', '20']);
  });

  afterAll(async () => {
    expect((await platform.stop()).code).toBe(0);
  });

  it('delivers every valid profile exactly once, dead-letters the rest, and never trips the rate limit', async () => {
    const deadLetter = join(tmp(), 'dead-letter.ndjson');
    const before = (await (await fetch(`${platform.url}/stats`)).json()) as { accepted: number };
    const result = await runCli(
      ['push', FIXTURE, '--batch-size', '8', '--max-retries', '6', '--dead-letter', deadLetter, '--json'],
      { env: { SYNC_DOWNSTREAM_URL: platform.url } },
    );
    expect(result.code, result.stderr).toBe(3);

    const summary = JSON.parse(result.stdout);
    expect(Object.keys(summary).sort()).toEqual([...SUMMARY_KEYS].sort());
    expect(summary).toMatchObject({ total: 47, invalid: 8, rejected: 3, failed: 0, deadLettered: 11 });
    expect(summary.invalid + summary.duplicates + summary.delivered + summary.rejected + summary.failed).toBe(summary.total);

    const stats = (await (await fetch(`${platform.url}/stats`)).json()) as { accepted: number; rateLimited: number; maxRequestsPerSecond: number };
    // Exactly once: the platform processed as many profiles as we count delivered, retries and all.
    expect(stats.accepted - before.accepted).toBe(summary.delivered);
    expect(stats.rateLimited).toBe(0);
    expect(stats.maxRequestsPerSecond).toBeLessThanOrEqual(5);

    const letters = readFileSync(deadLetter, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(letters).toHaveLength(11);
    for (const letter of letters) expect(Object.keys(letter)).toEqual(['line', 'runId', 'at', 'class', 'reason', 'record']);
    expect(letters.filter((l) => l.reason === 'address is on the suppression list')).toHaveLength(3);

    // JSON logs: every line has the run id and a stage; batch lines carry their batch id.
    const logs = result.stderr.trim().split('\n').map((line) => JSON.parse(line));
    expect(logs.every((l) => typeof l.runId === 'string' && typeof l.stage === 'string')).toBe(true);
    expect(logs.filter((l) => l.stage === 'send' && l.msg !== 'run finished').every((l) => typeof l.batchId === 'string')).toBe(true);
    // The dead letters carry the run's own id, the one on its log lines.
    expect(new Set(letters.map((l) => l.runId))).toEqual(new Set([logs[0].runId]));
  });

  it('replays its dead-letter file', async () => {
    const deadLetter = join(tmp(), 'dead-letter.ndjson');
    await runCli(['push', FIXTURE, '--max-retries', '6', '--dead-letter', deadLetter, '--quiet'], { env: { SYNC_DOWNSTREAM_URL: platform.url } });
    const replay = await runCli(['push', deadLetter, '--max-retries', '6', '--dead-letter', deadLetter, '--json'], { env: { SYNC_DOWNSTREAM_URL: platform.url } });
    expect(replay.code, replay.stderr).toBe(3);
    // The replay re-reads each record: the 8 invalid ones fail validation again, the 3 suppressed are refused again.
    expect(JSON.parse(replay.stdout)).toMatchObject({ total: 11, invalid: 8, rejected: 3, deadLettered: 11 });
  });
});

// The other bad invocations, in process: push.test.ts.
describe('sync push: bad invocations exit 2 with one line', () => {
  it.each([
    [['push', 'no-such-file.ndjson', '--downstream-url', 'http://127.0.0.1:9'], /no-such-file.ndjson: no such file/],
  ])('%j', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('sync push --verbose: a stack names the src/ lines of the bundled dist/', () => {
  it('a refusal logs its stack mapped through the source maps, each frame of ours in src/…ts', async () => {
    const result = await runCli(['push', 'no-such-file.ndjson', '--downstream-url', 'http://127.0.0.1:9', '--verbose', '--log-format', 'json']);
    expect(result.code).toBe(2);
    const error = result.stderr.trim().split('\n').map((line) => JSON.parse(line)).find((line) => line.level === 'error');
    const frames = (error.stack as string).split('\n').slice(1);
    expect(frames[0]).toMatch(/^ {4}at openInput \(.*[\\/]src[\\/]push[\\/]input\.ts:\d+:\d+\)$/);
    expect(frames.some((frame) => frame.includes('dist'))).toBe(false);
  });
});
