import { describe, expect, it } from 'vitest';
import { describeRun, exitMeaning } from '../../src/history/describe-run.js';
import type { RunRecord } from '../../src/history/run-record.js';

const push: RunRecord = {
  runId: '3fa2b1c0',
  command: 'push',
  startedAt: '2026-01-20T02:00:03.456Z',
  durationMs: 4234,
  exitCode: 3,
  platform: 'hubspot https://api.hubapi.com',
  summary: { total: 47, valid: 39, invalid: 8, duplicates: 1, unchanged: 0, delivered: 35, rejected: 3, failed: 0, deadLettered: 11, durationMs: 4200 },
};

describe('describeRun', () => {
  it('a push: start (UTC, to the second), command, platform, exit code and meaning, counts (zeros left out), duration, run id', () => {
    expect(describeRun(push)).toBe(
      '2026-01-20T02:00:03Z  push  hubspot https://api.hubapi.com  exit 3 (finished, some records rejected)  delivered 35 of 47 · invalid 8 · duplicates 1 · rejected 3 · dead-lettered 11  4.2 s  run 3fa2b1c0',
    );
  });

  it('a pull: its source, pages and what it exported; one that wrote nothing says so', () => {
    const pull: RunRecord = {
      runId: 'a1',
      command: 'pull',
      startedAt: '2026-01-20T01:00:00.000Z',
      durationMs: 950,
      exitCode: 0,
      platform: 'https://reqres.in/api',
      summary: { pages: 2, requests: 3, retries: 1, rateLimited: 0, exported: 12, out: 'customers.json' },
    };
    expect(describeRun(pull)).toBe('2026-01-20T01:00:00Z  pull  https://reqres.in/api  exit 0 (done)  exported 12 · pages 2 · retries 1  0.9 s  run a1');
    expect(describeRun({ ...pull, exitCode: 1, summary: { ...pull.summary, out: null } })).toMatch(/ exit 1 \(failed\) {2}nothing exported · pages 2 · retries 1 /);
  });

  it('a run with no summary (could not start, or ended at once) and no platform says so', () => {
    expect(describeRun({ ...push, exitCode: 2, platform: null, summary: null, durationMs: 12 })).toBe('2026-01-20T02:00:03Z  push  -  exit 2 (could not start)  no summary  0.0 s  run 3fa2b1c0');
  });

  it('a start time that is not a date is shown as written; a summary missing counts shows them as 0', () => {
    expect(describeRun({ ...push, startedAt: 'yesterday', summary: {} })).toMatch(/^yesterday {2}push {2}.* {2}delivered 0 of 0 {2}4\.2 s/);
  });
});

describe('exitMeaning', () => {
  it('names every exit code of the contract, and says when a code is not one', () => {
    expect([0, 1, 2, 3, 130, 141, 7].map(exitMeaning)).toEqual(['done', 'failed', 'could not start', 'finished, some records rejected', 'interrupted', 'stopped: its output was closed by its reader', 'unknown exit code']);
  });
});
