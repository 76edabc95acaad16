import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { checkContentType, discardRest, HttpProblem } from '../../src/serve/request-body.js';

describe('checkContentType', () => {
  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"', 'application/json ; charset=utf8'])('accepts %s', (type) => {
    expect(() => checkContentType(type)).not.toThrow();
  });

  it.each([undefined, '', 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/json; charset=latin1'])(
    'refuses %s with 415',
    (type) => {
      let thrown: unknown;
      try {
        checkContentType(type);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(HttpProblem);
      expect(thrown).toMatchObject({ status: 415, body: { status: 'invalid', errors: [{ path: '', message: expect.stringMatching(/^expected a body of type application\/json/) }] } });
    },
  );
});

describe('discardRest', () => {
  interface Discarded {
    /** Body bytes the server read after answering. */
    seen: number;
    /** From the answer to the socket's close, on the server. */
    closedAfterMs: number;
  }

  /** A server that answers 413 at once (as its last answer when `close`) and then discards the body within `limit`. */
  async function discarding(limit: { bytes: number; ms: number }, client: (port: number) => void, close = false): Promise<Discarded> {
    const server = createServer();
    const result = new Promise<Discarded>((resolve) => {
      server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        const started = performance.now();
        let seen = 0;
        req.on('data', (chunk: Buffer) => (seen += chunk.length));
        discardRest(req, limit);
        res.writeHead(413, { 'content-length': 0, ...(close ? { connection: 'close' } : {}) }).end();
        req.socket.on('close', () => resolve({ seen, closedAfterMs: performance.now() - started }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client((server.address() as AddressInfo).port);
    try {
      return await result;
    } finally {
      server.close();
    }
  }

  /** Sends `head` and `size` bytes of body; `done` resolves once the connection closes, with what came back and whether the server's FIN came before the client had written everything. */
  function sender(head: string, size: number) {
    let finished: (outcome: { received: string; finBeforeWritten: boolean }) => void = () => undefined;
    const done = new Promise<{ received: string; finBeforeWritten: boolean }>((resolve) => (finished = resolve));
    const start = (port: number): void => {
      let received = '';
      let written = false;
      let finBeforeWritten = false;
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.on('data', (chunk) => (received += chunk));
      socket.on('end', () => (finBeforeWritten = !written));
      socket.on('close', () => finished({ received, finBeforeWritten }));
      socket.write(head);
      socket.end(Buffer.alloc(size), () => (written = true));
    };
    return { start, done };
  }

  it.each([false, true])('reads and drops at most its byte bound, then cuts the connection (connection: close %s)', async (close) => {
    const size = 32 * 1024 * 1024;
    const { seen } = await discarding(
      { bytes: 256 * 1024, ms: 10_000 },
      (port) => {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write(`POST / HTTP/1.1\r\nhost: x\r\ncontent-length: ${size}\r\n\r\n`);
        socket.write(Buffer.alloc(size));
      },
      close,
    );
    expect(seen).toBeGreaterThan(256 * 1024);
    expect(seen).toBeLessThan(size);
  });

  it.each([false, true])('cuts a caller that stops sending once its time bound is over (connection: close %s)', async (close) => {
    const { seen, closedAfterMs } = await discarding(
      { bytes: 1024 * 1024, ms: 100 },
      (port) => {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{"email":');
      },
      close,
    );
    expect(seen).toBe(9);
    expect(closedAfterMs).toBeGreaterThanOrEqual(90);
    expect(closedAfterMs).toBeLessThan(2000);
  });

  it.each([
    ['the caller asked for it', 'connection: close\r\n', false],
    ['the answer says so', '', true],
  ])('on a connection that ends with the answer (%s): FIN after the answer, the whole body read, then closed', async (_, header, close) => {
    const size = 8 * 1024 * 1024;
    const client = sender(`POST / HTTP/1.1\r\nhost: x\r\n${header}content-length: ${size}\r\n\r\n`, size);
    const { seen } = await discarding({ bytes: 64 * 1024 * 1024, ms: 10_000 }, client.start, close);
    // Node's own destroySoon closed the socket as soon as the answer was out, 8 MiB unread.
    expect(seen).toBe(size);
    expect(await client.done).toEqual({ received: expect.stringMatching(/^HTTP\/1\.1 413 [^]*connection: close/i), finBeforeWritten: true });
  });
});
