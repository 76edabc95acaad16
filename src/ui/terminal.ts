import { Chalk, chalkStderr, type ChalkInstance } from 'chalk';
import { Writable } from 'node:stream';
import type { Ora } from 'ora';
import { LineGatherer } from './line-gatherer.js';

export interface TerminalOptions {
  /** Progress and colour only make sense for a person watching stderr. */
  interactive: boolean;
  color: boolean;
  /** Where log lines and messages go (tests): process.stderr. */
  stderr?: UnreadStderr;
}

/** What the terminal needs of stderr: writing, and how much written is still unread. */
export type UnreadStderr = Pick<Writable, 'write' | 'writableLength' | 'once'>;

/**
 * Log bytes written but not yet taken by stderr's reader beyond which log lines are dropped. A
 * stalled reader (a log shipper that stops reading the pipe) would otherwise have `sync serve`
 * hold every access line in memory: ~280 bytes an answer, gigabytes in an hour at full load.
 */
export const MAX_UNREAD_LOG_BYTES = 16 * 1024 * 1024;

type OraFactory = typeof import('ora').default;

export interface Progress {
  update(text: string): void;
  stop(): void;
}

/** What `progress()` gives where nothing is drawn: a caller may skip computing the text. */
export const noProgress: Progress = { update: () => undefined, stop: () => undefined };

/**
 * stderr as a person sees it: a spinner while long work runs, colour when wanted. Log lines go
 * through `write` so they clear the spinner first instead of tearing through it.
 */
export class Terminal {
  readonly paint: ChalkInstance;
  private readonly ora: OraFactory | undefined;
  private spinner: Ora | undefined;

  private readonly stderr: UnreadStderr;
  private dropped = 0;
  private onDropped: ((lines: number) => void) | undefined;

  private constructor({ color, stderr = process.stderr }: TerminalOptions, ora: OraFactory | undefined) {
    this.ora = ora;
    this.stderr = stderr;
    // chalk 5 reads its level from stdout and ignores NO_COLOR; stderr is ours to judge.
    this.paint = new Chalk({ level: color ? Math.max(chalkStderr.level, 1) as 1 | 2 | 3 : 0 });
  }

  /** ora is loaded only when a spinner can be shown. */
  static async create(options: TerminalOptions): Promise<Terminal> {
    return new Terminal(options, options.interactive ? (await import('ora')).default : undefined);
  }

  /** stderr for log lines: clears the spinner, writes, redraws it (pino-pretty pipes into a stream). */
  readonly stream = new Writable({
    write: (chunk: Buffer | string, _encoding, done) => {
      this.writeLog(chunk);
      done();
    },
  });

  /**
   * The same for pino's JSON lines, without a stream's machinery: pino only needs `write`, and under
   * `sync serve` load the Writable layers cost as much as the line itself (issue 19).
   */
  readonly sink = { write: (line: string): void => this.writeLog(line) };

  private gathered: LineGatherer | undefined;

  /**
   * From now on log lines are gathered and written once per event-loop turn (see LineGatherer)
   * until the returned function is called, which writes what is pending and goes back to a write
   * per line. For a server answering thousands of callers a second: one access line each.
   */
  gatherLines(): () => void {
    const gathered = new LineGatherer((text) => this.writeNow(text));
    this.gathered = gathered;
    // Whatever way the process ends, nothing gathered is lost (an 'exit' listener runs synchronously).
    const flush = (): void => gathered.flush();
    process.on('exit', flush);
    return () => {
      process.off('exit', flush);
      gathered.flush();
      if (this.gathered === gathered) this.gathered = undefined;
    };
  }

  private writeLog(chunk: Buffer | string): void {
    if (isErrorLine(chunk)) {
      // An error is what a stalled reader's log must still hold once it reads again (with --log-format
      // json, the default off a terminal, a run's failure is such a line): past the bound too, and
      // after the lines gathered before it.
      this.gathered?.flush();
      this.write(chunk);
    } else if (this.gathered) this.gathered.push(String(chunk));
    else this.writeNow(chunk);
  }

  /**
   * Called once stderr's reader has caught up after log lines were dropped, with how many: the
   * run's logger says so then (a warning, in the log's own format), so a gap in the log is never silent.
   */
  whenLinesDropped(onDropped: (lines: number) => void): void {
    this.onDropped = onDropped;
  }

  private writeNow(chunk: Buffer | string): void {
    if (this.stderr.writableLength >= MAX_UNREAD_LOG_BYTES) {
      this.drop(chunk);
      return;
    }
    this.write(chunk);
  }

  private write(chunk: Buffer | string): void {
    this.spinner?.clear();
    this.stderr.write(chunk);
    this.spinner?.render();
  }

  private drop(chunk: Buffer | string): void {
    if (this.dropped === 0) {
      this.stderr.once('drain', () => {
        const lines = this.dropped;
        this.dropped = 0;
        this.onDropped?.(lines);
      });
    }
    this.dropped += countLines(String(chunk));
  }

  progress(text: string): Progress {
    // ora wraps its line by dividing by the terminal's width: a TTY that reports 0 columns (seen
    // with `docker run -t` from a scheduler) made it spin forever writing escape codes.
    if (!this.ora || !hasWidth(process.stderr)) return noProgress;
    const spinner = this.ora({ text, stream: process.stderr, isEnabled: true }).start();
    this.spinner = spinner;
    return {
      update: (next) => {
        spinner.text = next;
      },
      stop: () => {
        spinner.stop();
        if (this.spinner === spinner) this.spinner = undefined;
      },
    };
  }

  line(text: string): void {
    // Lines logged before this one come out before it.
    this.gathered?.flush();
    this.spinner?.clear();
    this.stderr.write(`${text}\n`);
    this.spinner?.render();
  }
}

/** pino's JSON lines begin with their level (see createLogger's formatters), errors included. */
const ERROR_HEAD = '{"level":"error"';
const FATAL_HEAD = '{"level":"fatal"';

/** Two prefix checks and no string made: every access line of `sync serve` passes here. */
function isErrorLine(chunk: Buffer | string): boolean {
  const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8', 0, ERROR_HEAD.length);
  return text.startsWith(ERROR_HEAD) || text.startsWith(FATAL_HEAD);
}

function countLines(text: string): number {
  let lines = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lines++;
  return lines;
}

/** A terminal that reports a usable width; `columns` is 0 on some pseudo-terminals and undefined off a TTY. */
export function hasWidth(stream: { columns?: number }): boolean {
  return typeof stream.columns === 'number' && stream.columns > 0;
}
