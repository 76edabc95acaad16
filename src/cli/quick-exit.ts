let requested = false;

/**
 * Asked by a command whose action awaits all of its own work (push: the state's last commit, the
 * keeper's exit, the files, the history): once it is done and stdout and stderr have taken every
 * byte, the process ends with `process.exit()` instead of Node's orderly teardown of its heap,
 * which kept a finished 10k push alive 159–400 ms after its 'exit' event at load ~10 (46–154 ms
 * with process.exit()).
 * Not for a command that leaves work running when its action returns (servers), and only when
 * main owns the process (main.ts, `ownsProcess`: not inside the in-process test runner).
 */
export function exitWhenDone(): void {
  requested = true;
}

export interface ExitOptions {
  /** Whether main owns the process (main.ts, `ownsProcess`); when not, the request is dropped. */
  owned?: boolean;
  streams?: NodeJS.WritableStream[];
  exit?: () => void;
}

/**
 * Ends the process now if a command asked for it, after stdout and stderr have written what they
 * hold: `process.exit()` right after a large write to a pipe can cut it short (PITFALLS: 1.7 MB
 * came out as 64–128 KB), the write callbacks say when the bytes have left. Returns otherwise.
 * The request is used up either way.
 */
export async function exitIfAsked({ owned = true, streams = [process.stdout, process.stderr], exit = () => process.exit() }: ExitOptions = {}): Promise<void> {
  if (!requested) return;
  requested = false;
  if (!owned) return;
  await Promise.all(streams.map((stream) => new Promise<void>((resolve) => stream.write('', () => resolve()))));
  exit();
}
