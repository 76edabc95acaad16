import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll } from 'vitest';
import { close, listen } from '../../src/http/server.js';

/**
 * A server on 127.0.0.1 that answers every request 404, as a platform does to
 * `/?x=1/profiles/batch`, and counts them: a refusal "before anything is sent" must leave the count
 * as it was. Started before the describe's tests, closed after them.
 */
export function countingServer(): { url: () => string; requests: () => number } {
  let server: Server | undefined;
  let url = '';
  let requests = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests += 1;
      res.writeHead(404).end();
    });
    url = await listen(server, 0);
  });
  afterAll(() => (server ? close(server) : undefined));
  return { url: () => url, requests: () => requests };
}
