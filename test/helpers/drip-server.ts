import { createServer, type Server } from 'node:http';
import { close, listen } from '../../src/http/server.js';

export interface DripServer {
  url: string;
  /** Requests that arrived. */
  requests: () => number;
  close: () => Promise<void>;
}

/**
 * A real server on 127.0.0.1 that answers 200 at once and then sends its JSON body one byte every
 * `intervalMs`: the connection never goes idle long enough for an idle timeout, so only a deadline
 * on the whole response can end the request (nock's delays cannot imitate this).
 */
export async function startDripServer(body: string, intervalMs = 2000): Promise<DripServer> {
  let requests = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    requests += 1;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    let sent = 0;
    const timer = setInterval(() => {
      if (sent >= body.length || res.destroyed) {
        clearInterval(timer);
        timers.delete(timer);
        if (!res.destroyed) res.end();
        return;
      }
      res.write(body[sent++]);
    }, intervalMs);
    timers.add(timer);
    res.on('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  });
  const url = await listen(server, 0);
  return {
    url,
    requests: () => requests,
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      server.closeAllConnections();
      await close(server);
    },
  };
}
