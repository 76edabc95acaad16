import { readRunArgs, type RunCommand } from '../cli/run-args.js';
import { describeFsError, ExitCode } from '../errors.js';
import { writeFileAtomic, writeFileAtomicSync } from '../io/atomic-write.js';
import { runGaugesText, type RunRecord } from './run-gauges.js';

export interface MetricsTarget {
  command: RunCommand;
  path: string;
}

/**
 * The `--metrics-file` of a pull or push, read from the raw arguments before commander does: a run
 * that commander refuses (exit 2 before any action) must still leave its exit code there. Nothing
 * for a dry run (it writes no file) or for any other command.
 */
export function findMetricsFile(args: readonly string[]): MetricsTarget | undefined {
  const { command, metricsFile, dryRun } = readRunArgs(args);
  return command && metricsFile && !dryRun ? { command, path: metricsFile } : undefined;
}

let writtenByRun = false;

/** The command's own writer ran, or the run already said the file cannot be written: nothing is left to do. */
export function noteMetricsWritten(): void {
  writtenByRun = true;
}

/**
 * Runs the CLI, then makes sure a pull or push given `--metrics-file` leaves its exit code there
 * whatever happened: a flag refused, a missing SYNC_DOWNSTREAM_URL, a state directory it may not
 * write. Otherwise the file keeps the previous night's exit code and only a "has not run for a
 * day" alert notices, a day later. The command writes the full metrics itself when it ran; this
 * writes only how the run ended. A failure to write is said in one line; the exit code stays.
 */
export async function withExitMetrics(
  args: readonly string[],
  run: () => Promise<void>,
  say: (message: string, exitCode: number) => void,
  now: () => number = Date.now,
  exit: (code: number) => void = (code) => process.exit(code),
): Promise<void> {
  const target = findMetricsFile(args);
  const started = now();
  writtenByRun = false;
  const ending = (exitCode: number): RunRecord => {
    const ended = now();
    return { exitCode, durationMs: ended - started, endedAt: ended };
  };
  // A second Ctrl-C (signals.ts) or a stdout closed by its reader (broken-pipe.ts) ends the process
  // with process.exit(): the finally below never runs then, only 'exit' listeners, synchronously.
  const onExit = (exitCode: number): void => {
    if (!target || writtenByRun || exitCode === ExitCode.ok) return;
    const error = writeExitMetricsSync(target, ending(exitCode));
    if (error) say(`--metrics-file ${target.path}: exit code ${exitCode} not recorded: ${error}`, exitCode);
  };
  // Push and pull listen for SIGINT/SIGTERM only once their action runs (signals.ts), after their
  // modules load and their flags are parsed (0.6 s of a push here). A signal before then met no
  // listener: Node's default ended the process by the signal, with no 'exit' event, so last
  // night's file stayed. Until the command adds a listener of its own, a signal here is exit 130,
  // which onExit records; from then on it is the command's to handle, also once the command has
  // removed its listener again: its run is over by then, and its metrics are written. Without
  // --metrics-file too: an interrupted pull or push is exit 130 (SPEC), not the signal's 143.
  let handedOver = false;
  const noteHandOver = (event: string | symbol, listener: unknown): void => {
    if ((event === 'SIGINT' || event === 'SIGTERM') && listener !== early) handedOver = true;
  };
  const early = (): void => {
    if (!handedOver) exit(ExitCode.interrupted);
  };
  if (target) process.once('exit', onExit);
  if (readRunArgs(args).command) {
    process.on('SIGINT', early);
    process.on('SIGTERM', early);
    process.on('newListener', noteHandOver);
  }
  try {
    await run();
  } finally {
    process.off('newListener', noteHandOver);
    process.off('SIGINT', early);
    process.off('SIGTERM', early);
    try {
      const exitCode = Number(process.exitCode ?? ExitCode.ok);
      // Exit 0 without the command's writer is help or --version: no run ended.
      if (target && !writtenByRun && exitCode !== ExitCode.ok) {
        const error = await writeExitMetrics(target, ending(exitCode));
        if (error) say(`--metrics-file ${target.path}: exit code ${exitCode} not recorded: ${error}`, exitCode);
      }
    } finally {
      process.off('exit', onExit);
    }
  }
}

/** Only the run gauges: nothing else was measured. Returns why it could not write, if so. */
export async function writeExitMetrics(target: MetricsTarget, run: RunRecord): Promise<string | undefined> {
  try {
    await writeFileAtomic(target.path, runGaugesText(target.command, run));
    return undefined;
  } catch (error) {
    return describeFsError((error as { cause?: unknown }).cause ?? error);
  }
}

/** The same, for a process that is exiting now. */
function writeExitMetricsSync(target: MetricsTarget, run: RunRecord): string | undefined {
  try {
    writeFileAtomicSync(target.path, runGaugesText(target.command, run));
    return undefined;
  } catch (error) {
    return describeFsError((error as { cause?: unknown }).cause ?? error);
  }
}
