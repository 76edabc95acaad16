import { mkdirSync } from 'node:fs';
import { readRunArgs, type RunCommand } from '../cli/run-args.js';
import { ExitCode } from '../errors.js';
import { defaultStateDir } from '../state/state-dir.js';
import type { RunRecord } from './run-record.js';

export interface HistoryTarget {
  command: RunCommand;
  stateDir: string;
}

/**
 * Where the pull or push the raw arguments name records its run, read before commander does, as
 * commander would resolve `--state` (the flag, else SYNC_STATE_DIR, else the default). Nothing for
 * a push dry run (it touches no state), for other commands, or when `--state` has no usable value.
 */
export function findHistoryTarget(args: readonly string[], env: NodeJS.ProcessEnv): HistoryTarget | undefined {
  const { command, state, dryRun } = readRunArgs(args);
  if (!command || (command === 'push' && dryRun) || state === null) return undefined;
  const stateDir = state ?? env.SYNC_STATE_DIR ?? defaultStateDir(env);
  return stateDir ? { command, stateDir } : undefined;
}

let recordedByRun = false;

/** The command's own recorder (run-recorder.ts) has taken the run: it writes the line, whatever happens next. */
export function noteRunRecorded(): void {
  recordedByRun = true;
}

/**
 * Runs the CLI, then makes sure a pull or push that ended before its own recorder took the run
 * still leaves a line in the history (SPEC: a run that could not start is recorded too when the
 * state directory is usable): a flag commander refused, or a Ctrl-C while the program was still
 * loading (exit 130, through the 'exit' event: see telemetry/exit-metrics.ts). The line has no
 * summary and no platform: the flags were never parsed. An unusable state directory is silent: the
 * run has already said why it failed, and there is nowhere to record it.
 */
export async function withRunHistory(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  runId: string,
  run: () => Promise<void>,
  now: () => number = Date.now,
): Promise<void> {
  recordedByRun = false;
  const target = findHistoryTarget(args, env);
  if (!target) return run();
  // Loaded now, not at the end: an 'exit' runs no promise. The run loads it anyway (run-recorder.ts),
  // and a --version or a help page never pays for it (a signal in the first ~0.1 s finds it not yet
  // loaded, and goes unrecorded).
  let history: typeof import('./run-history.js') | undefined;
  const loading = import('./run-history.js').then((loaded) => (history = loaded));
  const started = now();
  const line = (exitCode: number): RunRecord => ({
    runId,
    command: target.command,
    startedAt: new Date(started).toISOString(),
    durationMs: now() - started,
    exitCode,
    platform: null,
    summary: null,
  });
  const onExit = (exitCode: number): void => {
    if (recordedByRun || exitCode === ExitCode.ok || !history) return;
    try {
      mkdirSync(target.stateDir, { recursive: true });
      history.appendRunSync(target.stateDir, line(exitCode));
    } catch {
      // The process is exiting: there is no one left to tell.
    }
  };
  process.once('exit', onExit);
  try {
    await run();
  } finally {
    process.off('exit', onExit);
    const exitCode = Number(process.exitCode ?? ExitCode.ok);
    // Exit 0 without the recorder is help or --version: no run ended.
    if (!recordedByRun && exitCode !== ExitCode.ok) {
      const { appendRun, prepareHistory } = await loading;
      await prepareHistory(target.stateDir)
        .then(() => appendRun(target.stateDir, line(exitCode)))
        .catch(() => undefined);
    }
  }
}
