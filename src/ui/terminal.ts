import { Chalk, chalkStderr, type ChalkInstance } from 'chalk';
import { Writable } from 'node:stream';
import type { Ora } from 'ora';

export interface TerminalOptions {
  /** Progress and colour only make sense for a person watching stderr. */
  interactive: boolean;
  color: boolean;
}

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

  private constructor({ color }: TerminalOptions, ora: OraFactory | undefined) {
    this.ora = ora;
    // chalk 5 reads its level from stdout and ignores NO_COLOR; stderr is ours to judge.
    this.paint = new Chalk({ level: color ? Math.max(chalkStderr.level, 1) as 1 | 2 | 3 : 0 });
  }

  /** ora is loaded only when a spinner can be shown. */
  static async create(options: TerminalOptions): Promise<Terminal> {
    return new Terminal(options, options.interactive ? (await import('ora')).default : undefined);
  }

  /** stderr for log lines: clears the spinner, writes, redraws it. */
  readonly stream = new Writable({
    write: (chunk: Buffer | string, _encoding, done) => {
      this.spinner?.clear();
      process.stderr.write(chunk);
      this.spinner?.render();
      done();
    },
  });

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
    this.spinner?.clear();
    process.stderr.write(`${text}\n`);
    this.spinner?.render();
  }
}

/** A terminal that reports a usable width; `columns` is 0 on some pseudo-terminals and undefined off a TTY. */
export function hasWidth(stream: { columns?: number }): boolean {
  return typeof stream.columns === 'number' && stream.columns > 0;
}
