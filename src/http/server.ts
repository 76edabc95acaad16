import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../errors.js';

/** Small helpers for our HTTP servers (serve and the mocks). */

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

/**
 * Binds to loopback unless told otherwise. The accept backlog is raised from Node's 511: a burst of
 * new connections (thousands a second under load) must not be dropped into SYN retransmits.
 */
export async function listen(server: Server, port: number, host = '127.0.0.1', backlog = 4096): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    const refuse = (error: NodeJS.ErrnoException): void => {
      const why = error.code === 'EADDRINUSE' ? 'is already in use' : error.code === 'EACCES' ? 'needs more privileges' : error.message;
      reject(new UsageError(`cannot listen on ${host}:${port}: the port ${why}`, { cause: error }));
    };
    server.once('error', refuse);
    server.listen(port, host, backlog, () => {
      server.off('error', refuse);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

export async function close(server: Server): Promise<void> {
  server.closeIdleConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://mock.local');
}
