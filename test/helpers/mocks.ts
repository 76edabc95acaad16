import type { IncomingMessage, Server } from 'node:http';
import { close, listen } from '../../src/http/server.js';
import { startServer } from './cli.js';

type OnFinished = (fn: () => Promise<void>) => void;

/**
 * A simulator in the test's own process: the server `sync mock …` runs, listening on 127.0.0.1 and
 * a free port, without the ~0.3–0.5 s of CPU a process start costs. Stopped when the test finishes
 * (pass the test context's `onTestFinished`: it is the one hook concurrent tests do not share).
 * Spawn `sync mock …` instead (`spawnMock`) where a test kills or restarts the mock's process, and
 * where it asserts the platform's count of arrivals per window while other tests share the worker:
 * this event loop, running late, counts two arrivals closer together than they came.
 */
export async function serveMock<S extends Server>(server: S, onTestFinished: OnFinished): Promise<{ url: string; server: S }> {
  const url = await listen(server, 0);
  onTestFinished(async () => {
    // Answers a test holds (holdAnswers) would keep close() waiting.
    server.closeAllConnections();
    await close(server);
  });
  return { url, server };
}

/**
 * `sync mock …` in a process of its own (`args` after `mock`), on 127.0.0.1 and a free port, with an
 * event loop of its own: it counts arrivals when they come, whatever the test's worker is doing.
 * Stopped when the test finishes.
 */
export async function spawnMock(args: string[], onTestFinished: OnFinished): Promise<{ url: string }> {
  const running = await startServer(['mock', ...args, '--port', '0']);
  onTestFinished(async () => void (await running.stop()));
  return { url: running.url };
}

/**
 * Holds each answer the server writes until the promise `until(request)` returns has settled
 * (undefined: answered at once). The request is processed on arrival as usual; only its answer
 * waits, which orders "processed, not yet answered" by events instead of by a latency long enough.
 */
export function holdAnswers(server: Server, until: (request: IncomingMessage) => Promise<unknown> | undefined): void {
  server.prependListener('request', (request: IncomingMessage, response) => {
    const gate = until(request);
    if (!gate) return;
    const end = response.end.bind(response) as (...args: unknown[]) => void;
    response.end = ((...args: unknown[]) => {
      void gate.then(() => end(...args));
      return response;
    }) as typeof response.end;
  });
}
