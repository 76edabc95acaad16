import { connect } from 'node:net';

export interface Exchange {
  received: string;
  /** The socket error seen, if any (EPIPE, ECONNRESET). */
  error?: string;
  closedByServer: boolean;
}

/** A raw HTTP/1.1 exchange: writes `head` and then `body` as fast as the socket takes it, collects what comes back until the server closes or `until` matches. */
export function exchange(url: string, head: string, body: Buffer | undefined, until?: RegExp): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let received = '';
    let error: string | undefined;
    const finish = (closedByServer: boolean) => {
      socket.destroy();
      resolve({ received, error, closedByServer });
    };
    socket.on('data', (chunk) => {
      received += chunk;
      if (until?.test(received)) finish(false);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    socket.on('close', () => finish(true));
    socket.write(head);
    if (body) socket.write(body, () => undefined);
  });
}
