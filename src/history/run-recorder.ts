import type { CommandOutcome, Handler } from '../cli/action.js';
import type { RunContext } from '../cli/context.js';
import { ExitCode, SyncError, toSyncError } from '../errors.js';
import { appendRun, appendRunSync, historyPath, prepareHistory } from './run-history.js';
import type { RecordedCommand, RunRecord } from './run-record.js';
import { noteRunRecorded } from './unrecorded-run.js';

/** How a command's runs are recorded: which command, in which state directory, naming what. */
export interface RunHistory<O> {
  command: RecordedCommand;
  /** The state directory the run is recorded in; undefined: this run is not recorded (push --dry-run). */
  stateDir(options: O): string | undefined;
  /** What the run talks to (push: the platform as its state names it; pull: the source URL); null when the flags name none. */
  platform(options: O): Promise<string | null> | string | null;
}

/**
 * Runs `handler` and appends its run to the history, whatever the outcome: done, failed, could not
 * start, interrupted. A state directory that cannot hold the history stops the run before it
 * starts (a usage error, thrown: nothing to record it in). A second Ctrl-C exits at once
 * (src/cli/signals.ts): the line is then written as the process exits, without a summary.
 */
export async function recorded<O>(history: RunHistory<O>, handler: Handler<O>, options: O, context: RunContext, args: string[]): Promise<CommandOutcome> {
  const stateDir = history.stateDir(options);
  if (stateDir === undefined) return handler(options, context, args);
  noteRunRecorded();
  const started = Date.now();
  await prepareHistory(stateDir);
  const platform = await platformOf(history, options);
  const entry = (exitCode: number, summary: object | undefined): RunRecord => ({
    runId: context.runId,
    command: history.command,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    exitCode,
    platform,
    summary: (summary as RunRecord['summary'] | undefined) ?? null,
  });
  const onExit = (code: number): void => {
    try {
      appendRunSync(stateDir, entry(code, undefined));
    } catch {
      // The process is exiting: there is no one left to tell.
    }
  };
  process.once('exit', onExit);
  let outcome: CommandOutcome;
  try {
    outcome = await handler(options, context, args);
  } catch (error) {
    const failure = toSyncError(error);
    outcome = { exitCode: failure.exitCode, error: failure };
  } finally {
    process.off('exit', onExit);
  }
  try {
    await appendRun(stateDir, entry(outcome.exitCode, outcome.summary));
  } catch (error) {
    return notRecorded(outcome, toSyncError(error), context);
  }
  context.logger.debug({ stage: 'run', history: historyPath(stateDir) }, `run recorded in ${historyPath(stateDir)}`);
  return outcome;
}

async function platformOf<O>(history: RunHistory<O>, options: O): Promise<string | null> {
  try {
    return await history.platform(options);
  } catch {
    // Flags that name no platform are the run's own usage error, reported by the run.
    return null;
  }
}

/**
 * A history line that could not be written is never silent: a run that had succeeded ends exit 1
 * with one line naming the file; a run that had already failed keeps its own error and exit code,
 * and this is said as a warning.
 */
function notRecorded(outcome: CommandOutcome, failure: SyncError, context: RunContext): CommandOutcome {
  const message = `run not recorded in the history: ${failure.message}`;
  if (outcome.exitCode !== ExitCode.ok && outcome.exitCode !== ExitCode.partial) {
    context.logger.warn({ stage: 'run', errorClass: failure.errorClass }, message);
    return outcome;
  }
  return { ...outcome, exitCode: ExitCode.failed, error: new SyncError(message, failure.errorClass, ExitCode.failed, { cause: failure }) };
}
