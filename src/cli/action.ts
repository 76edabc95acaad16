import type { Command } from 'commander';
import { ExitCode, OutputPathError, toSyncError, type SyncError } from '../errors.js';
import type { Stage } from '../logging/logger.js';
import { redactCredentials } from '../logging/redact.js';
import type { RunHistory } from '../history/run-recorder.js';
import { noteMetricsWritten } from '../telemetry/exit-metrics.js';
import { createContext, type GlobalOptions, type RunContext } from './context.js';

/** What a command hands back to the top level, which prints it and sets the exit code. */
export interface CommandOutcome {
  exitCode: ExitCode;
  /** The run summary: one JSON object on stdout with `--json`. */
  summary?: object;
  /** Human-readable lines for stderr when not `--json`. */
  report?: string[];
  /** Why the run did not fully succeed, reported as one line. */
  error?: SyncError;
  /** Stage named on the closing log lines (every JSON log line carries one). */
  stage?: Stage;
}

export type Handler<O> = (options: O, context: RunContext, args: string[]) => Promise<CommandOutcome>;

/**
 * Wraps a command handler: builds the run context from the flags, runs it, and turns the outcome
 * (or any thrown error) into output and `process.exitCode`. Never `process.exit()`: that cuts
 * piped stdout short.
 */
export function action<O>(handler: Handler<O & GlobalOptions>, history?: RunHistory<O & GlobalOptions>) {
  // push and pull: every run, whatever its outcome, leaves one line in the run history (src/history).
  const run: Handler<O & GlobalOptions> = history ? async (...args) => (await import('../history/run-recorder.js')).recorded(history, handler, ...args) : handler;
  return async (...received: unknown[]): Promise<void> => {
    const command = received.at(-1) as Command;
    const options = command.optsWithGlobals<O & GlobalOptions>();
    const context = await createContext(options);
    let outcome: CommandOutcome;
    try {
      outcome = await run(options, context, command.args);
    } catch (error) {
      const failure = toSyncError(error);
      outcome = { exitCode: failure.exitCode, error: failure };
    }
    // The run's own line already says the metrics file cannot be written: not a second time.
    if (outcome.error instanceof OutputPathError && outcome.error.flag === '--metrics-file') noteMetricsWritten();
    printOutcome(outcome, context);
    process.exitCode = outcome.exitCode;
  };
}

export function printOutcome(outcome: CommandOutcome, context: RunContext): void {
  if (outcome.error) reportError(outcome.error, context, outcome.stage);
  if (context.json && outcome.summary) process.stdout.write(`${JSON.stringify(outcome.summary)}\n`);
  if (context.quiet) return;
  // stderr stays machine-readable in JSON mode: the summary rides in one log line instead of prose.
  if (context.logFormat === 'json') {
    if (outcome.summary) context.logger.info({ stage: outcome.stage ?? 'run', summary: outcome.summary, exitCode: outcome.exitCode }, 'run finished');
  } else {
    for (const line of outcome.report ?? []) context.terminal.line(line);
  }
}

/** One line, the class and exit code alongside; the stack only with --verbose. */
export function reportError(error: SyncError, context: RunContext, stage: Stage = 'run'): void {
  const { logger, terminal, verbose, logFormat } = context;
  const message = redactCredentials(error.message);
  const stack = error.stack && redactCredentials(error.stack);
  const fields = { stage, errorClass: error.errorClass, exitCode: error.exitCode, ...(verbose ? { stack } : {}) };
  if (logFormat === 'json') {
    logger.error(fields, message);
    return;
  }
  terminal.line(terminal.paint.red(`error: ${message}`));
  if (verbose && stack) terminal.line(terminal.paint.dim(stack));
}
