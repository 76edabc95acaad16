import { createLogger, newRunId, type LogFormat, type Logger } from '../logging/logger.js';
import { MAX_UNREAD_LOG_BYTES, Terminal } from '../ui/terminal.js';

/** Options every command accepts (declared once on the program). */
export interface GlobalOptions {
  json?: boolean;
  logFormat?: LogFormat;
  quiet?: boolean;
  verbose?: boolean;
  color?: boolean;
}

/** What a command's action gets besides its own flags. */
export interface RunContext {
  runId: string;
  logger: Logger;
  terminal: Terminal;
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  logFormat: LogFormat;
}

export async function createContext(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<RunContext> {
  const stderrIsTty = Boolean(process.stderr.isTTY);
  const color = options.color !== false && !env.NO_COLOR && stderrIsTty;
  const logFormat = options.logFormat ?? (stderrIsTty ? 'pretty' : 'json');
  const interactive = stderrIsTty && !env.CI && !options.json && !options.quiet;
  const terminal = await Terminal.create({ interactive, color });
  const runId = newRunId();
  const logger = await createLogger({
    format: logFormat,
    level: options.verbose ? 'debug' : options.quiet ? 'warn' : 'info',
    runId,
    color,
    // JSON lines go to the terminal without a stream in between; pino-pretty pipes into a stream.
    destination: logFormat === 'json' ? terminal.sink : terminal.stream,
    maskEmails: !options.verbose,
  });
  terminal.whenLinesDropped((lines) =>
    logger.warn({ stage: 'run', droppedLines: lines }, `${lines} log lines dropped: stderr's reader fell ${MAX_UNREAD_LOG_BYTES / 1024 / 1024} MB behind`),
  );
  return {
    runId,
    logger,
    terminal,
    json: Boolean(options.json),
    quiet: Boolean(options.quiet),
    verbose: Boolean(options.verbose),
    logFormat,
  };
}
