import { connect } from 'node:net';
import { Worker } from 'node:worker_threads';

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

/**
 * A slow client: writes `head` at once, then `drip` one byte every `everyMs` until the server closes
 * the connection (or `giveUpMs` passes). Resolves with what came back and when the server closed.
 */
export function slowClient(url: string, head: string, drip: string, everyMs: number, giveUpMs: number): Promise<{ received: string; closedAfterMs: number | undefined }> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    const started = performance.now();
    let received = '';
    let sent = 0;
    const ticker = setInterval(() => {
      if (sent < drip.length) socket.write(drip[sent++]!);
    }, everyMs);
    const giveUp = setTimeout(() => end(undefined), giveUpMs);
    const end = (closedAfterMs: number | undefined): void => {
      clearInterval(ticker);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ received, closedAfterMs });
    };
    socket.on('data', (chunk) => (received += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => end(performance.now() - started));
    socket.write(head);
  });
}

export interface PostOutcome {
  status?: number;
  body?: string;
  /** The client's error (EPIPE, ECONNRESET) when the answer was lost. */
  error?: string;
}

/**
 * `tries` POSTs of `size` bytes, one after another, from Node's own HTTP client with `agent: false`
 * (which sends `Connection: close`), Content-Length or chunked, running in a worker thread so that
 * the client and the server race as they do across processes (test/helpers/node-post-worker.mjs).
 */
export async function postFromThread(url: string, job: { size: number; chunked: boolean; tries: number; headers?: Record<string, string> }): Promise<PostOutcome[]> {
  const worker = new Worker(new URL('./node-post-worker.mjs', import.meta.url), { workerData: { url, ...job } });
  try {
    return await new Promise<PostOutcome[]>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`client thread exited (${code}) before reporting`)));
    });
  } finally {
    await worker.terminate();
  }
}
