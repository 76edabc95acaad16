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
  /** A server that answers at once and then discards the body within `limit`; resolves with the body bytes it saw before the connection ended. */
  async function discarding(limit: { bytes: number; ms: number }, client: (port: number) => void): Promise<{ seen: number; closedAfterMs: number }> {
    const server = createServer();
    const result = new Promise<{ seen: number; closedAfterMs: number }>((resolve) => {
      server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        const started = performance.now();
        let seen = 0;
        req.on('data', (chunk: Buffer) => (seen += chunk.length));
        res.writeHead(413, { 'content-length': 0 }).end();
        discardRest(req, limit);
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

  it('reads and drops at most its byte bound, then cuts the connection', async () => {
    const size = 32 * 1024 * 1024;
    const { seen } = await discarding({ bytes: 256 * 1024, ms: 10_000 }, (port) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`POST / HTTP/1.1\r\nhost: x\r\ncontent-length: ${size}\r\n\r\n`);
      socket.write(Buffer.alloc(size));
    });
    expect(seen).toBeGreaterThan(256 * 1024);
    expect(seen).toBeLessThan(size);
  });

  it('cuts a caller that stops sending once its time bound is over', async () => {
    const { seen, closedAfterMs } = await discarding({ bytes: 1024 * 1024, ms: 100 }, (port) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{"email":');
    });
    expect(seen).toBe(9);
    expect(closedAfterMs).toBeGreaterThanOrEqual(90);
    expect(closedAfterMs).toBeLessThan(2000);
  });
});
