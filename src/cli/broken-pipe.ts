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
