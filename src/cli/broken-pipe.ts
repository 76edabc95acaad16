/** 128 + SIGPIPE: what a shell reports for `cat` stopped the same way. */
export const BROKEN_PIPE_EXIT_CODE = 141;

/**
 * stdout closed by its reader (`sync push f --dry-run | head -2`, `sync --help | head`): the next
 * write fails with EPIPE, emitted on the stream, and with no listener Node prints a stack. Nobody
 * reads what we would write any more, so stop at once and say nothing, as `cat` does when SIGPIPE
 * ends it (Node ignores SIGPIPE, so the signal never does it for us).
 */
export function stopQuietlyOnBrokenPipe(stream: NodeJS.WriteStream = process.stdout, exit: (code: number) => void = (code) => process.exit(code)): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') exit(BROKEN_PIPE_EXIT_CODE);
    else throw error;
  });
}

/**
 * stderr closed by its reader (`sync serve 2> >(head)`, a log shipper that died): the next log line
 * fails with EPIPE, emitted on the stream, and with no listener Node ended the process with exit 1
 * — a server dropped every caller it was holding because nobody read its log. The log lines have
 * nowhere to go any more; the work (callers answered, records delivered, the exit code) still
 * matters, so it goes on without them. The stream is destroyed by then: later writes are dropped
 * silently.
 */
export function keepRunningOnBrokenStderr(stream: NodeJS.WriteStream = process.stderr): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}
