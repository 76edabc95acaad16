import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';

/** Where redis-server is, or undefined (tests that need it are then skipped, saying why). */
export const REDIS_SERVER: string | undefined = (() => {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
})();

export const SKIP_REDIS_MESSAGE = 'redis-server not found: tests of the shared Redis quota are SKIPPED (apt-get install -y redis-server; .ci/run installs it)';

// eslint-disable-next-line no-console -- the skip must be visible in the test output
if (!REDIS_SERVER) console.warn(`\n⚠ ${SKIP_REDIS_MESSAGE}\n`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export interface TestRedis {
  url: string;
  port: number;
  /** Kill it (SIGKILL: its memory, the quota's log, is gone). */
  kill(): Promise<void>;
  /** Start it again on the same port, empty. */
  restart(): Promise<void>;
  /** SIGSTOP: its connections stay open, nothing is answered (a stuck Redis). */
  freeze(): void;
  /** SIGCONT: it answers again, what was sent meanwhile included. */
  thaw(): void;
  stop(): Promise<void>;
}

/**
 * A redis-server of the test's own on a free loopback port: 127.0.0.1 only, no persistence, gone
 * when the test stops it.
 */
export async function startRedis(): Promise<TestRedis> {
  if (!REDIS_SERVER) throw new Error(SKIP_REDIS_MESSAGE);
  const port = await freePort();
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    child = spawn(REDIS_SERVER!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: 'ignore',
    });
    // It listens within a few ms; polling often saves most of a poll interval on every test.
    for (let i = 0; i < 500; i++) {
      if (await canConnect(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const kill = async (): Promise<void> => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGKILL');
    });
  };
  const signal = (name: 'SIGSTOP' | 'SIGCONT') => (): void => void child?.kill(name);
  await launch();
  return { url: `redis://127.0.0.1:${port}`, port, kill, restart: launch, stop: kill, freeze: signal('SIGSTOP'), thaw: signal('SIGCONT') };
}
