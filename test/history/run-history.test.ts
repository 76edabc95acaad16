import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OutputPathError, UsageError, WriteError } from '../../src/errors.js';
import { appendRun, appendRunSync, historyPath, prepareHistory, readLastRuns, RUNS_FILE, type DamagedLine } from '../../src/history/run-history.js';
import { runLine, type RunRecord } from '../../src/history/run-record.js';
import { useTempDir } from '../helpers/tmp.js';

const run = (i: number, overrides: Partial<RunRecord> = {}): RunRecord => ({
  runId: `run${i}`,
  command: i % 2 === 0 ? 'push' : 'pull',
  startedAt: new Date(Date.UTC(2026, 0, 20, 2, 0, i)).toISOString(),
  durationMs: 1000 + i,
  exitCode: 0,
  platform: 'http://127.0.0.1:4020',
  summary: { delivered: i },
  ...overrides,
});

describe('the run history', () => {
  const tmp = useTempDir();
  const read = async (stateDir: string, last = 20) => {
    const damaged: DamagedLine[] = [];
    const runs = await readLastRuns(stateDir, last, (damage) => damaged.push(damage));
    return { runs: runs?.map((listed) => listed.run), texts: runs?.map((listed) => listed.text), damaged };
  };

  it('lives in runs.ndjson in the state directory; each run is one line, keys in the documented order', async () => {
    const stateDir = join(tmp(), 'state');
    await prepareHistory(stateDir);
    await appendRun(stateDir, run(1));
    expect(historyPath(stateDir)).toBe(join(stateDir, RUNS_FILE));
    expect(RUNS_FILE).toBe('runs.ndjson');
    const text = readFileSync(historyPath(stateDir), 'utf8');
    expect(text).toBe(`${runLine(run(1))}\n`);
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['runId', 'command', 'startedAt', 'durationMs', 'exitCode', 'platform', 'summary']);
  });

  it('lists the last N runs, newest last, each with its line as stored', async () => {
    const stateDir = tmp();
    for (let i = 1; i <= 30; i++) await appendRun(stateDir, run(i));
    const { runs, texts, damaged } = await read(stateDir, 20);
    expect(runs!.map((r) => r.runId)).toEqual(Array.from({ length: 20 }, (_, i) => `run${i + 11}`));
    expect(texts![0]).toBe(runLine(run(11)));
    expect(damaged).toEqual([]);
    expect((await read(stateDir, 1)).runs!.map((r) => r.runId)).toEqual(['run30']);
    expect((await read(stateDir, 100)).runs).toHaveLength(30);
  });

  it('no history yet: undefined, not an error, and nothing is created by reading', async () => {
    const stateDir = join(tmp(), 'never-used');
    expect(await readLastRuns(stateDir, 20, () => undefined)).toBeUndefined();
    expect(existsSync(stateDir)).toBe(false);
  });

  it('skips damaged lines (garbage, not a run, cut short by a kill, far too long) and says where and why, never throwing', async () => {
    const stateDir = tmp();
    const good = [run(1), run(2), run(3)].map(runLine);
    const notRun = JSON.stringify({ ...run(9), exitCode: 'zero' });
    const content = `${good[0]}\ngarbage\n${notRun}\n[1,2]\n${'z'.repeat(2 * 1024 * 1024)}\n${good[1]}\n${good[2]}\n${good[2]!.slice(0, 40)}`;
    writeFileSync(historyPath(stateDir), content);
    const { runs, damaged } = await read(stateDir);
    expect(runs!.map((r) => r.runId)).toEqual(['run1', 'run2', 'run3']);
    const at = (text: string) => content.indexOf(text);
    expect(damaged).toEqual([
      { offset: content.lastIndexOf('\n') + 1, why: 'not valid JSON; it has no newline after it (a run killed while writing it?)' },
      { offset: at('zzz'), why: `a line of ${2 * 1024 * 1024} bytes, far longer than a run's` },
      { offset: at('[1,2]'), why: 'not a run (not a JSON object)' },
      { offset: at(notRun), why: 'not a run (exitCode: Invalid input: expected number, received string)' },
      { offset: at('garbage'), why: 'not valid JSON' },
    ]);
  });

  it('only the lines it reads can be damaged: the last N runs past an old damaged line do not report it', async () => {
    const stateDir = tmp();
    writeFileSync(historyPath(stateDir), `garbage\n${runLine(run(1))}\n${runLine(run(2))}\n`);
    expect(await read(stateDir, 2)).toMatchObject({ damaged: [] });
    expect((await read(stateDir, 3)).damaged).toHaveLength(1);
  });

  it('a line after one cut short by a kill is whole: the cut line is ended before the next is written', async () => {
    const stateDir = tmp();
    writeFileSync(historyPath(stateDir), `${runLine(run(1))}\n${runLine(run(2)).slice(0, 30)}`);
    await appendRun(stateDir, run(3));
    appendRunSync(stateDir, run(4));
    writeFileSync(historyPath(stateDir), `${readFileSync(historyPath(stateDir), 'utf8')}{"runId":"cut`);
    appendRunSync(stateDir, run(5));
    const { runs, damaged } = await read(stateDir);
    expect(runs!.map((r) => r.runId)).toEqual(['run1', 'run3', 'run4', 'run5']);
    expect(damaged.map((d) => d.why)).toEqual(['not valid JSON', 'not valid JSON']);
  });

  it('runs ending at once each keep their whole line', async () => {
    const stateDir = tmp();
    await Promise.all(Array.from({ length: 50 }, (_, i) => appendRun(stateDir, run(i, { summary: { note: 'n'.repeat(i * 100) } }))));
    const { runs, damaged } = await read(stateDir, 100);
    expect(damaged).toEqual([]);
    expect(new Set(runs!.map((r) => r.runId)).size).toBe(50);
  });

  it('a state directory that cannot hold the history is a usage error naming --state, in the words push uses for its state', async () => {
    const file = join(tmp(), 'file');
    writeFileSync(file, 'x');
    await expect(prepareHistory(file)).rejects.toThrow(new UsageError(`--state ${file}: cannot create the state (not a directory)`));
    const stateDir = join(tmp(), 'state');
    mkdirSync(join(stateDir, RUNS_FILE), { recursive: true });
    await expect(prepareHistory(stateDir)).rejects.toThrow(new OutputPathError('--state', historyPath(stateDir), 'is a directory'));
    // Creating it, when missing, is part of preparing.
    const fresh = join(tmp(), 'a', 'b');
    await prepareHistory(fresh);
    expect(existsSync(fresh)).toBe(true);
  });

  it.skipIf(process.getuid?.() === 0)('an unwritable history is refused before the run; a write that fails later is thrown, naming the file', async () => {
    const stateDir = tmp();
    writeFileSync(historyPath(stateDir), '');
    chmodSync(historyPath(stateDir), 0o444);
    await expect(prepareHistory(stateDir)).rejects.toThrow(UsageError);
    await expect(appendRun(stateDir, run(1))).rejects.toThrow(WriteError);
  });

  // Nothing writes anything but a regular file there, so what else is there was put by hand: a
  // FIFO blocked \`sync runs\` in open() for good (cron's \`sync runs\` never returned), and a link to a
  // device listed nothing, as if no run had ever happened.
  it.each([
    ['a FIFO', (path: string) => execFileSync('mkfifo', [path])],
    ['a link to a device', (path: string) => symlinkSync('/dev/zero', path)],
  ])('%s where the history should be: a usage error naming --state, at once', { timeout: 5_000 }, async (_what, make) => {
    const stateDir = tmp();
    make(historyPath(stateDir));
    const failure = await readLastRuns(stateDir, 5, () => undefined).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UsageError);
    expect((failure as UsageError).message).toBe(`--state ${stateDir}: cannot read the run history ${historyPath(stateDir)} (not a regular file)`);
  });

  it('a write that fails is thrown, naming the file (a directory in the way)', async () => {
    const stateDir = tmp();
    mkdirSync(historyPath(stateDir));
    const failure = await appendRun(stateDir, run(1)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WriteError);
    expect((failure as WriteError).message).toBe(`${historyPath(stateDir)}: is a directory (EISDIR)`);
  });
});
