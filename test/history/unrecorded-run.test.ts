import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { historyPath } from '../../src/history/run-history.js';
import { findHistoryTarget, noteRunRecorded, withRunHistory } from '../../src/history/unrecorded-run.js';
import { runMain } from '../helpers/in-process-cli.js';
import { useTempDir } from '../helpers/tmp.js';

const lines = (stateDir: string): Record<string, unknown>[] =>
  existsSync(historyPath(stateDir))
    ? readFileSync(historyPath(stateDir), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>)
    : [];

describe('findHistoryTarget: where a pull or push records its run, from the raw arguments', () => {
  const env = { XDG_STATE_HOME: '/xdg' };

  it.each([
    [['push', 'p.ndjson', '--state', '/s'], { command: 'push', stateDir: '/s' }],
    [['--log-format', 'json', 'pull', '--state=/s', '--state', '/t'], { command: 'pull', stateDir: '/t' }],
    [['push', 'p.ndjson', '--bogus'], { command: 'push', stateDir: '/xdg/sync' }],
    // pull has no --dry-run: that is a refused flag, and a refused run is recorded.
    [['pull', '--dry-run', '--state', '/s'], { command: 'pull', stateDir: '/s' }],
  ])('%j → %j', (args, expected) => {
    expect(findHistoryTarget(args, env)).toStrictEqual(expected);
  });

  it('SYNC_STATE_DIR when no --state is given, as commander resolves it', () => {
    expect(findHistoryTarget(['push', 'p'], { ...env, SYNC_STATE_DIR: '/env' })).toStrictEqual({ command: 'push', stateDir: '/env' });
  });

  it.each([
    [['push', 'p.ndjson', '--dry-run', '--state', '/s']],
    [['serve', '--state', '/s']],
    [['runs', '--state', '/s']],
    [['push', 'p.ndjson', '--state']],
    [['push', 'p.ndjson', '--state', '--bogus']],
    [['push', 'p.ndjson', '--state=']],
    [['--', 'push', '--state', '/s']],
  ])('nothing for %j', (args) => {
    expect(findHistoryTarget(args, env)).toBeUndefined();
  });

  it('nothing when SYNC_STATE_DIR is set empty', () => {
    expect(findHistoryTarget(['push', 'p'], { ...env, SYNC_STATE_DIR: '' })).toBeUndefined();
  });
});

describe('withRunHistory: a pull or push that ended before its recorder took it still leaves a line', () => {
  const tmp = useTempDir();
  const savedExitCode = process.exitCode;
  afterEach(() => {
    process.exitCode = savedExitCode;
  });
  const clock = (...times: number[]) => () => times.shift() ?? 0;

  it('a run refused with exit 2: one line with the run id, the command, no platform and no summary', async () => {
    const stateDir = join(tmp(), 'new', 'state');
    await withRunHistory(['push', 'p', '--state', stateDir], {}, 'r-9', async () => void (process.exitCode = ExitCode.usage), clock(1_000, 1_250));
    expect(lines(stateDir)).toStrictEqual([
      { runId: 'r-9', command: 'push', startedAt: new Date(1_000).toISOString(), durationMs: 250, exitCode: 2, platform: null, summary: null },
    ]);
  });

  it('no line of its own when the recorder took the run, whatever its exit code', async () => {
    const stateDir = tmp();
    await withRunHistory(['pull', '--state', stateDir], {}, 'r-1', async () => {
      noteRunRecorded();
      process.exitCode = ExitCode.failed;
    });
    expect(lines(stateDir)).toStrictEqual([]);
  });

  it('no line for exit 0 without the recorder (help, --version)', async () => {
    const stateDir = tmp();
    await withRunHistory(['push', '--help', '--state', stateDir], {}, 'r-1', async () => void (process.exitCode = ExitCode.ok));
    expect(lines(stateDir)).toStrictEqual([]);
  });

  it('a state directory that cannot be used is silent: the run keeps its own exit code and error', async () => {
    const notADir = join(tmp(), 'a-file');
    writeFileSync(notADir, 'x');
    await expect(withRunHistory(['push', 'p', '--state', join(notADir, 'state')], {}, 'r-1', async () => void (process.exitCode = ExitCode.usage))).resolves.toBeUndefined();
    expect(process.exitCode).toBe(ExitCode.usage);
    expect(readFileSync(notADir, 'utf8')).toBe('x');
  });

  it('a process ending at once (a signal while the program loads: exit 130) writes the line as it exits', async () => {
    const stateDir = join(tmp(), 'state');
    const before = process.listeners('exit');
    await withRunHistory(['push', 'p', '--state', stateDir], {}, 'r-7', async () => {
      await import('../../src/history/run-history.js');
      const added = process.listeners('exit').filter((listener) => !before.includes(listener));
      expect(added).toHaveLength(1);
      added[0]!(ExitCode.interrupted);
      // What is written as the process exits is on disk before the exit ends.
      expect(lines(stateDir)).toMatchObject([{ runId: 'r-7', command: 'push', exitCode: 130, summary: null }]);
      noteRunRecorded();
    });
    expect(process.listeners('exit')).toStrictEqual(before);
  });
});

describe('a refused run in the history, through the program (in process)', () => {
  const tmp = useTempDir();

  it('`push --bogus`: exit 2, and `sync runs` lists the run with the id its error line carried', async () => {
    const stateDir = join(tmp(), 'state');
    const refused = await runMain(['push', 'p.ndjson', '--bogus', '--state', stateDir, '--log-format', 'json']);
    expect(refused.code).toBe(2);
    const error = JSON.parse(refused.stderr.trim().split('\n').at(-1)!) as { runId: string; msg: string };
    expect(error.msg).toContain('--bogus');
    const listed = await runMain(['runs', '--state', stateDir, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown)).toMatchObject([{ runId: error.runId, command: 'push', exitCode: 2, summary: null }]);
  });

  it('a dry run refused is not recorded: a dry run touches no state', async () => {
    const stateDir = join(tmp(), 'state');
    expect((await runMain(['push', 'p.ndjson', '--dry-run', '--bogus', '--state', stateDir])).code).toBe(2);
    expect(existsSync(stateDir)).toBe(false);
  });
});
