import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { unlessCallerLeaves } from '../../src/serve/hang-up.js';
import { RequestCut } from '../../src/serve/request-body.js';

describe('unlessCallerLeaves', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? (server.closeAllConnections(), server.close(() => resolve())) : resolve())));

  /** Starts a server whose handler gets the request; resolves with a connected client that has sent a complete POST. */
  async function serving(handle: (req: IncomingMessage) => void): Promise<Socket> {
    server = createServer((req) => req.resume().on('end', () => handle(req)));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    client.on('error', () => undefined);
    client.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}');
    return client;
  }

  it('gives the outcome while the caller waits, and leaves no listener on the connection', async () => {
    const settled = new Promise<{ value: string; listeners: number[] }>((resolve) => {
      void serving(async (req) => {
        const before = [req.socket.listenerCount('end'), req.socket.listenerCount('close')];
        const value = await unlessCallerLeaves(req, new Promise<string>((done) => setTimeout(() => done('forwarded'), 20)));
        resolve({ value, listeners: [req.socket.listenerCount('end') - before[0]!, req.socket.listenerCount('close') - before[1]!] });
      });
    });
    expect(await settled).toEqual({ value: 'forwarded', listeners: [0, 0] });
  });

  it.each([
    ['hangs up', (socket: Socket) => socket.destroy()],
    ['half-closes', (socket: Socket) => socket.end()],
  ])('rejects at once with 499 when the caller %s (Node closes our side too); the outcome failing later is no crash', async (_, leave) => {
    let fail: (error: Error) => void = () => undefined;
    const outcome = new Promise<string>((_resolve, reject) => (fail = reject));
    let waiting: (req: IncomingMessage) => void = () => undefined;
    const handled = new Promise<IncomingMessage>((resolve) => (waiting = resolve));
    let settled: Promise<unknown> = Promise.resolve();
    const client = await serving((req) => {
      settled = unlessCallerLeaves(req, outcome).catch((error: unknown) => error);
      waiting(req);
    });
    const req = await handled;
    leave(client);
    const error = await settled;
    expect(error).toBeInstanceOf(RequestCut);
    expect(error).toMatchObject({ status: 499, message: expect.stringMatching(/closed the connection while waiting/) });
    expect(req.socket.destroyed).toBe(true);
    // Without a listener this would be an unhandled rejection, which ends the process.
    fail(new Error('late'));
    await new Promise((resolve) => setImmediate(resolve));
  });

  it('rejects at once when the caller had already left before the wait began', async () => {
    let settled: (error: unknown) => void = () => undefined;
    const result = new Promise<unknown>((resolve) => (settled = resolve));
    let ready: () => void = () => undefined;
    const handled = new Promise<void>((resolve) => (ready = resolve));
    const client = await serving((req) => {
      req.socket.once('close', () => unlessCallerLeaves(req, new Promise(() => undefined)).catch(settled));
      ready();
    });
    await handled;
    client.destroy();
    expect(await result).toMatchObject({ status: 499 });
  });
});
