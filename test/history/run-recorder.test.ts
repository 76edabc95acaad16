import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CommandOutcome } from '../../src/cli/action.js';
import type { RunContext } from '../../src/cli/context.js';
import { ExitCode, SyncError, UsageError } from '../../src/errors.js';
import { historyPath } from '../../src/history/run-history.js';
import { recorded, type RunHistory } from '../../src/history/run-recorder.js';
import { Terminal } from '../../src/ui/terminal.js';
import { memoryLogger } from '../helpers/logger.js';
import { useTempDir } from '../helpers/tmp.js';

interface Flags {
  state?: string;
  url?: string;
}

const HISTORY: RunHistory<Flags> = { command: 'push', stateDir: (flags) => flags.state, platform: (flags) => flags.url ?? null };

describe('recorded: every run of a recorded command leaves one line', () => {
  const tmp = useTempDir();

  async function context(): Promise<{ context: RunContext; logs: () => Record<string, unknown>[] }> {
    const { logger, lines } = await memoryLogger();
    const terminal = await Terminal.create({ interactive: false, color: false });
    return { context: { runId: 'r-1', logger, terminal, json: true, quiet: false, verbose: false, logFormat: 'json' }, logs: lines };
  }
  const history = (stateDir: string) =>
    readFileSync(historyPath(stateDir), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  it('a finished run: its id, command, start, duration, exit code, platform and summary', async () => {
    const stateDir = join(tmp(), 'state');
    const { context: ctx } = await context();
    const before = Date.now();
    const outcome = await recorded(HISTORY, async () => ({ exitCode: ExitCode.partial, summary: { delivered: 3 } }), { state: stateDir, url: 'http://p' }, ctx, []);
    expect(outcome).toEqual({ exitCode: ExitCode.partial, summary: { delivered: 3 } });
    const [line] = history(stateDir);
    expect(line).toEqual({ runId: 'r-1', command: 'push', startedAt: expect.any(String), durationMs: expect.any(Number), exitCode: 3, platform: 'http://p', summary: { delivered: 3 } });
    expect(Date.parse(line!.startedAt as string)).toBeGreaterThanOrEqual(before - 1);
  });

  it('a run that throws is recorded with its exit code and no summary, and its error comes back as the outcome', async () => {
    const stateDir = tmp();
    const { context: ctx } = await context();
    const outcome = await recorded(HISTORY, () => Promise.reject(new UsageError('nope.ndjson: no such file')), { state: stateDir }, ctx, []);
    expect(outcome).toMatchObject({ exitCode: ExitCode.usage, error: { message: 'nope.ndjson: no such file' } });
    expect(history(stateDir)).toEqual([expect.objectContaining({ exitCode: 2, summary: null, platform: null })]);
  });

  it('a process that exits at once mid-run (a second Ctrl-C: process.exit(130)) still records the run, without a summary', async () => {
    const stateDir = tmp();
    const { context: ctx } = await context();
    const before = new Set(process.listeners('exit'));
    let added: NodeJS.ExitListener[] = [];
    await recorded(
      HISTORY,
      async () => {
        added = process.listeners('exit').filter((listener) => !before.has(listener));
        // What process.exit(130) does before the process ends: the 'exit' listeners, synchronously.
        for (const listener of added) listener(ExitCode.interrupted);
        expect(history(stateDir)).toEqual([expect.objectContaining({ runId: 'r-1', command: 'push', exitCode: 130, summary: null })]);
        return { exitCode: ExitCode.ok, summary: {} };
      },
      { state: stateDir, url: 'http://p' },
      ctx,
      [],
    );
    expect(added).toHaveLength(1);
    // Once the run is recorded the normal way, the listener is gone: a process ends with one line per run.
    expect(process.listeners('exit').filter((listener) => !before.has(listener))).toEqual([]);
  });

  it('a platform the flags cannot name is null, not a failure', async () => {
    const stateDir = tmp();
    const { context: ctx } = await context();
    const throwing: RunHistory<Flags> = { ...HISTORY, platform: () => Promise.reject(new UsageError('--to x: expected one of …')) };
    await recorded(throwing, async () => ({ exitCode: ExitCode.ok }), { state: stateDir }, ctx, []);
    expect(history(stateDir)).toEqual([expect.objectContaining({ exitCode: 0, platform: null })]);
  });

  it('no state directory for this run (a dry run): the handler runs and nothing is written', async () => {
    const { context: ctx } = await context();
    let ran = false;
    const outcome = await recorded(HISTORY, async () => ((ran = true), { exitCode: ExitCode.ok }), {}, ctx, []);
    expect([ran, outcome.exitCode]).toEqual([true, 0]);
  });

  it('a state directory that cannot hold the history stops the run before it starts (exit 2), and nothing is recorded', async () => {
    const file = join(tmp(), 'file');
    writeFileSync(file, 'x');
    const { context: ctx } = await context();
    let ran = false;
    await expect(recorded(HISTORY, async () => ((ran = true), { exitCode: ExitCode.ok }), { state: file }, ctx, [])).rejects.toThrow(new UsageError(`--state ${file}: cannot create the state (not a directory)`));
    expect(ran).toBe(false);
  });

  it('a history that cannot be written after a good run: exit 1 with one line naming the file', async () => {
    const stateDir = tmp();
    const { context: ctx } = await context();
    const outcome = await recorded(
      HISTORY,
      async () => {
        // Something takes the file's place while the run goes on.
        rmSync(historyPath(stateDir), { force: true });
        mkdirSync(historyPath(stateDir));
        return { exitCode: ExitCode.ok, summary: { delivered: 1 } };
      },
      { state: stateDir },
      ctx,
      [],
    );
    expect(outcome.exitCode).toBe(ExitCode.failed);
    expect(outcome.summary).toEqual({ delivered: 1 });
    expect(outcome.error).toBeInstanceOf(SyncError);
    expect(outcome.error!.message).toBe(`run not recorded in the history: ${historyPath(stateDir)}: is a directory (EISDIR)`);
  });

  it('after a run that had failed, the same keeps the run\'s own error and exit code, and warns', async () => {
    const stateDir = tmp();
    const { context: ctx, logs } = await context();
    const failure = new SyncError('downstream unavailable', 'server', ExitCode.failed);
    const outcome: CommandOutcome = await recorded(
      HISTORY,
      async () => {
        mkdirSync(historyPath(stateDir));
        return { exitCode: ExitCode.failed, error: failure };
      },
      { state: stateDir },
      ctx,
      [],
    );
    expect(outcome).toEqual({ exitCode: ExitCode.failed, error: failure });
    expect(logs()).toEqual([expect.objectContaining({ level: 'warn', msg: `run not recorded in the history: ${historyPath(stateDir)}: is a directory (EISDIR)` })]);
  });
});
