import { CommanderError } from 'commander';
import { ExitCode, UsageError } from '../errors.js';
import { newRunId } from '../logging/run-id.js';
import { redactCredentials } from '../logging/redact.js';
import { withRunHistory } from '../history/unrecorded-run.js';
import { withExitMetrics } from '../telemetry/exit-metrics.js';
import { keepRunningOnBrokenStderr, stopQuietlyOnBrokenPipe } from './broken-pipe.js';
import { startKeeperAhead } from './keeper-ahead.js';
import { commandsFor, createProgram } from './program.js';
import { exitIfAsked } from './quick-exit.js';
import { programName } from './program-name.js';
import { JsonCommanderStderr } from './usage-output.js';

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

export interface MainOptions {
  /**
   * This run is the process's own program (the launchers in bin/): it may start ahead what the
   * named command will need before its modules load (push's keeper: keeper-ahead.ts), and end the
   * process itself once a command's work is done (quick-exit.ts). Off for a run inside another
   * process (the in-process test runner): a refused push there forks nothing, and nothing there
   * calls process.exit().
   */
  ownsProcess?: boolean;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, { ownsProcess = false }: MainOptions = {}): Promise<void> {
  // The lines written before the run has a logger, and its history line, share one run id.
  const runId = newRunId();
  // Whatever the exit, a pull or push given --metrics-file leaves its exit code there (cron alerts
  // read it), and a line in the run history.
  const say = (message: string, exitCode: number): void =>
    void process.stderr.write(wantsJsonLogs(argv.slice(2), env) ? `${jsonLine(runId, message, 'unexpected', exitCode)}\n` : `error: ${message}\n`);
  await withExitMetrics(argv.slice(2), () => withRunHistory(argv.slice(2), env, runId, () => run(argv, env, ownsProcess, runId)), say);
  await exitIfAsked({ owned: ownsProcess });
}

async function run(argv: string[], env: NodeJS.ProcessEnv, ownsProcess: boolean, runId: string): Promise<void> {
  stopQuietlyOnBrokenPipe();
  keepRunningOnBrokenStderr();
  // Libraries (lmdb) print the errors they also report through their promises; we report those
  // ourselves, as one line naming the file. Their raw stacks are for --verbose only.
  // eslint-disable-next-line no-console -- silencing, not printing
  if (!argv.includes('--verbose')) console.error = () => undefined;
  const json = wantsJsonLogs(argv.slice(2), env);
  const usageError = (message: string): void => {
    process.stderr.write(json ? `${jsonLine(runId, message)}\n` : `error: ${message}\n`);
  };
  const withdrawKeeper = ownsProcess ? await startKeeperAhead(argv.slice(2)) : undefined;
  // Commander's own messages in JSON mode: one JSON line each, a help page shown for a mistake included.
  const jsonStderr = json ? new JsonCommanderStderr((message) => jsonLine(runId, message)) : undefined;
  const program = await createProgram({ writeErr: jsonStderr?.write, commands: commandsFor(argv.slice(2)) });
  jsonStderr?.watch(program);
  if (argv.length <= 2) {
    // `sync` alone is a mistake in a script (a missing argument), not a request for help: exit 2.
    if (json) usageError(`no command given; see ${programName()} --help`);
    else program.outputHelp({ error: true });
    process.exitCode = ExitCode.usage;
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // Refused before any action ran: the state's process started ahead is not needed.
    if (error instanceof CommanderError || error instanceof UsageError) await withdrawKeeper?.();
    if (error instanceof CommanderError) {
      // Commander has already printed its one-line message. Help asked for exits 0; help shown for a
      // mistake (a command group without its command: commander's exit code 1) is a usage error.
      process.exitCode = HELP_CODES.has(error.code) && error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    if (error instanceof UsageError) {
      // A parser that must not let commander echo the value (a URL that may hold a password) names the flag itself.
      usageError(redactCredentials(error.message));
      process.exitCode = error.exitCode;
      return;
    }
    // Actions report their own errors; reaching here is a bug, still one line.
    const message = redactCredentials(error instanceof Error ? error.message : String(error));
    process.stderr.write(json ? `${jsonLine(runId, message, 'unexpected', ExitCode.failed)}\n` : `error: ${message}\n`);
    process.exitCode = ExitCode.failed;
  }
}

/**
 * Whether stderr carries JSON lines, decided before commander has parsed anything (its own usage
 * errors must be JSON too): the flag, else SYNC_LOG_FORMAT, else JSON whenever stderr is no TTY.
 */
function wantsJsonLogs(args: string[], env: NodeJS.ProcessEnv): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--log-format') return args[i + 1] === 'json';
    if (arg.startsWith('--log-format=')) return arg.slice('--log-format='.length) === 'json';
  }
  if (env.SYNC_LOG_FORMAT) return env.SYNC_LOG_FORMAT === 'json';
  return !process.stderr.isTTY;
}

/** The shape of the logger's error lines, for the errors raised before there is a logger. */
function jsonLine(runId: string, msg: string, errorClass = 'client', exitCode: number = ExitCode.usage): string {
  return JSON.stringify({ level: 'error', time: new Date().toISOString(), runId, stage: 'run', errorClass, exitCode, msg });
}
