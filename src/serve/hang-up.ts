import type { IncomingMessage } from 'node:http';
import { RequestCut } from './request-body.js';

export const CALLER_LEFT = 'the caller closed the connection while waiting for the outcome; its profiles stay queued and are still delivered';

/**
 * Waits for `outcome` while the caller waits for it. If the caller hangs up first, rejects at once
 * with a 499 `RequestCut`: the access line and `sync_caller_wait_seconds` then say 499, with the
 * time it waited, rather than the 200 nobody received. The outcome itself is not withdrawn: the
 * profiles stay in the engine and are delivered.
 *
 * The connection's 'close' tells: a reset closes it, and so does a plain close or a half-close,
 * because Node's server (`httpAllowHalfOpen` false, lib/_http_server.js `socketOnEnd`, Node 20)
 * ends its side as soon as the caller's ends, and the socket is then destroyed.
 */
export function unlessCallerLeaves<T>(req: IncomingMessage, outcome: Promise<T>): Promise<T> {
  const { socket } = req;
  return new Promise<T>((resolve, reject) => {
    const left = (): void => reject(new RequestCut(499, CALLER_LEFT));
    if (socket.destroyed) return left();
    socket.once('close', left);
    // Also handles a failure after the caller left, when nobody else listens to it any more.
    outcome.then(
      (value) => (socket.off('close', left), resolve(value)),
      (error: unknown) => (socket.off('close', left), reject(error)),
    );
  });
}
