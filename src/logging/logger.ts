import { pino, type DestinationStream, type Logger } from 'pino';
import { redactCredentials } from './redact.js';

export { newRunId } from './run-id.js';

export type { Logger };
export type LogFormat = 'json' | 'pretty';
/** Where in a run a line comes from; every log line carries one. */
/** `run` is the command's own start/finish/error lines. */
export type Stage = 'fetch' | 'transform' | 'validate' | 'batch' | 'send' | 'export' | 'serve' | 'mock' | 'run';

export interface LoggerOptions {
  format: LogFormat;
  level: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  runId: string;
  color: boolean;
  /** Defaults to stderr: stdout belongs to data and the `--json` summary. */
  destination?: DestinationStream;
  /** Mask email addresses inside messages too (a platform's refusal may quote one); off with --verbose. */
  maskEmails?: boolean;
}

/**
 * pino: JSON lines by default (cheap, what log shippers want); pino-pretty for people at a terminal.
 * Both write synchronously so a line is never lost when the process ends.
 */
export async function createLogger({ format, level, runId, color, destination, maskEmails = true }: LoggerOptions): Promise<Logger> {
  // pino-pretty is only needed by a person at a terminal; cron runs skip loading it.
  const pretty = format === 'pretty' ? (await import('pino-pretty')).default : undefined;
  const stream =
    pretty
      ? pretty({
          destination: destination ?? 2,
          sync: true,
          colorize: color,
          singleLine: true,
          translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
          ignore: 'pid,hostname',
        })
      : (destination ?? pino.destination({ dest: 2, sync: true }));
  const clean = (text: string): string => (maskEmails ? maskEmailsIn(redactCredentials(text)) : redactCredentials(text));
  const logger = pino(
    {
      level,
      base: { runId },
      // An error logged as `err` (an unexpected failure, whatever threw it) can quote an address or
      // a URL with its password in its message and stack: cleaned like a message.
      serializers: { err: (error: Error) => cleanError(pino.stdSerializers.err(error), clean) },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Every message, whoever logs it: a URL in it keeps no password, an address quoted in it is masked.
      hooks: {
        logMethod(args, method) {
          // Both leave a text without `@` as it is: the common line (serve's access line, once per
          // request) goes through without a copy of its arguments.
          // Stryker disable next-line ConditionalExpression: a shortcut; cleaning a text without `@` leaves it as it is.
          if (!args.some(holdsAt)) return method.apply(this, args);
          method.apply(this, args.map((arg) => (typeof arg === 'string' ? clean(arg) : arg)) as Parameters<typeof method>);
        },
      },
    },
    stream,
  );
  // pino-pretty's stream takes the same JSON lines from us as from pino.
  DIRECT.set(logger, { stream, clean });
  return logger;
}

/** What writing a line as pino would, without pino, needs: where pino writes and how it cleans a message. */
interface Direct {
  stream: DestinationStream;
  clean: (text: string) => string;
  /** The last message `infoLine` wrote, and its JSON (cleaned): a server writes the same one for most requests. */
  lastMsg?: string;
  lastMsgJson?: string;
}

/** createLogger's loggers. A child logger (other bindings) is not here and goes through pino. */
const DIRECT = new WeakMap<Logger, Direct>();

/** A string as pino writes a value (`"…"`, escaped as JSON), or nothing for `undefined` (pino leaves the key out). */
export function jsonField(key: string, value: string | number | undefined): string {
  return value === undefined ? '' : `,"${key}":${JSON.stringify(value)}`;
}

/**
 * Writes at info level, byte for byte, the line `logger.info(fields, msg)` writes, from `fields`
 * already written as JSON text: `,"key":value` for each field, in order (see `jsonField`). For a line
 * of a fixed shape written once per request (serve's access line): pino's path per line (the hook,
 * a walk over the object's keys with a serializer lookup and an escape per value, the object
 * itself) was 3.7% of serve's busy time under wrk, its garbage on top (issue 19). Same level check,
 * same message cleaning (credentials, and addresses unless --verbose), same stream, so the line
 * lands where and when pino's would (gathered per turn while serving, written at exit).
 */
export function infoLine(logger: Logger, fields: string, msg: string): void {
  const direct = DIRECT.get(logger);
  if (!direct) {
    logger.info(JSON.parse(`{${fields.slice(1)}}`) as object, msg);
    return;
  }
  if (!logger.isLevelEnabled('info')) return;
  const chindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym];
  if (msg !== direct.lastMsg) {
    direct.lastMsg = msg;
    direct.lastMsgJson = JSON.stringify(holdsAt(msg) ? direct.clean(msg) : msg);
  }
  direct.stream.write(`{"level":"info"${isoTime()}${chindings}${fields},"msg":${direct.lastMsgJson}}\n`);
}

type SerializedError = ReturnType<typeof pino.stdSerializers.err>;

/** The serialized error with its message and stack (and its causes') passed through `clean`. */
function cleanError(error: SerializedError, clean: (text: string) => string): SerializedError {
  if (typeof error.message === 'string') error.message = clean(error.message);
  if (typeof error.stack === 'string') error.stack = clean(error.stack);
  const cause: unknown = (error as { cause?: unknown }).cause;
  if (cause !== null && typeof cause === 'object') cleanError(cause as SerializedError, clean);
  return error;
}

/** Made once: an arrow written inside the hook is a new closure on every line logged. */
// Stryker disable next-line StringLiteral: a shortcut; cleaning every text changes only those with `@`.
const holdsAt = (arg: unknown): boolean => typeof arg === 'string' && arg.includes('@');

let lastMs = NaN;
let lastTime = '';

/**
 * pino's isoTime, made once per millisecond: a server answering a batch writes hundreds of lines
 * within the same millisecond (issue 19: the Date and its ISO string were 1.2% of serve's CPU).
 */
export function isoTime(now = Date.now()): string {
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** `george.bluth@reqres.in` → `g***@reqres.in`: enough to correlate, not enough to leak. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${email[0]}***${email.slice(at)}`;
}

// An address as platforms quote one in free text. No `/` or `*` in the local part: a URL whose
// password redactCredentials already masked (`http://***@host`) is not an address.
const EMAIL_IN_TEXT = /[\p{L}\p{N}._%+!#$&'=?^`{|}~-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+/gu;

/** Every address inside a message masked as maskEmail does: `refused: ann@x.io is suppressed` → `refused: a***@x.io is suppressed`. */
export function maskEmailsIn(text: string): string {
  return text.includes('@') ? text.replace(EMAIL_IN_TEXT, (email) => maskEmail(email)) : text;
}
