import { createServer, type Server } from 'node:http';
import axios from 'axios';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { departureTransport } from '../../src/http/departure.js';
import { close, listen } from '../../src/http/server.js';

describe('departureTransport (real server on 127.0.0.1)', () => {
  // nock's interceptor replaces sockets with its own, which neither cork nor connect like real ones.
  beforeAll(() => nock.restore());
  afterAll(() => nock.activate());
  let server: Server | undefined;
  afterEach(async () => {
    if (server) await close(server);
    server = undefined;
  });

  it('holds the request until notBefore, on a new and on a kept-alive connection, and reports the departure', async () => {
    const arrivals: number[] = [];
    server = createServer((req, res) => {
      arrivals.push(Date.now());
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    const url = await listen(server, 0);
    const http = axios.create({ maxRedirects: 0 });
    for (let i = 0; i < 2; i++) {
      const notBefore = Date.now() + 150;
      let departedAt: number | undefined;
      await http.post(url, 'x'.repeat(100_000), {
        transport: departureTransport({ notBefore, onDeparture: () => (departedAt = Date.now()) }),
      });
      // Built and handed to the client at once, yet it reached the server only once released.
      expect(departedAt).toBeGreaterThanOrEqual(notBefore);
      expect(arrivals[i]).toBeGreaterThanOrEqual(notBefore);
      expect(arrivals[i]! - departedAt!).toBeLessThan(100);
    }
  });

  it('reports the departure at once when there is nothing to wait for', async () => {
    server = createServer((req, res) => req.resume().on('end', () => res.end('{}')));
    const url = await listen(server, 0);
    let departed = 0;
    await axios.post(url, '{}', { maxRedirects: 0, transport: departureTransport({ onDeparture: () => (departed += 1) }) });
    expect(departed).toBe(1);
  });
});
