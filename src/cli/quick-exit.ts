let requested = false;

/**
 * Asked by a command whose action awaits all of its own work (push: the state's last commit, the
 * keeper's exit, the files, the history): once it is done and stdout and stderr have taken every
 * byte, the process ends with `process.exit()` instead of Node's orderly teardown of its heap,
 * which measured 80–250 ms after the last line (one-profile and 10k-profile pushes, load 5–10).
 * Not for a command that leaves work running when its action returns (servers).
 */
export function exitWhenDone(): void {
  requested = true;
}

/**
 * Ends the process now if a command asked for it, after stdout and stderr have written what they
 * hold: `process.exit()` right after a large write to a pipe cuts it short (measured: 1.7 MB came
 * out as 64–128 KB), the write callbacks say when the bytes have left. Returns otherwise.
 */
export async function exitIfAsked(streams: NodeJS.WritableStream[] = [process.stdout, process.stderr], exit: () => void = () => process.exit()): Promise<void> {
  if (!requested) return;
  requested = false;
  await Promise.all(streams.map((stream) => new Promise<void>((resolve) => stream.write('', () => resolve()))));
  exit();
}
