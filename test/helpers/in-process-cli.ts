import fs from 'node:fs';
import { main } from '../../src/cli/main.js';
import { programName, setProgramName } from '../../src/cli/program-name.js';
import { BIN, childEnv, type CliResult } from './cli.js';

/*
 * `sync …` run by calling main() in the test process, for the tests that only look at how the
 * command line is parsed, refused or helped: exit code, stdout and stderr exactly as runCli (a
 * spawned bin/sync.js) gives them, without the 0.3–0.5 s of CPU a child spends loading modules.
 * A run that reaches the network, a signal or the state store is for runCli.
 *
 * main() writes to the process it runs in. Everything it touches is set up as a child would see it
 * and put back afterwards, so that the next test (the unit project shares one module graph per
 * worker, isolate: false) sees nothing of it: the environment (runCli's childEnv: CI, NO_COLOR, no
 * SYNC_* of the developer's, a state directory of its own), stdout/stderr (captured, no TTY), the
 * exit code, console.error (main silences it), the program's name (the launcher sets it), and every
 * listener added on process or the standard streams (broken-pipe.ts, exit-metrics.ts, signals.ts).
 */

export interface InProcessOptions {
  env?: Record<string, string | undefined>;
  /** The name the launcher says: `sync` (bin/sync.js, the default) or `sync-cli` (bin/sync-cli.js). */
  programName?: 'sync' | 'sync-cli';
  /** The working directory of the run (relative paths in the arguments), as runCli's `cwd`. */
  cwd?: string;
}

/** The events main may listen to, on process and on each standard stream. */
const PROCESS_EVENTS = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGPIPE', 'uncaughtException', 'unhandledRejection'] as const;
const STREAM_EVENTS = ['error', 'close', 'finish', 'drain'] as const;

// Runs share process-wide state: one at a time, even from `it.concurrent` tests.
let queue: Promise<unknown> = Promise.resolve();

/** Runs `sync ARGS` in this process; resolves as runCli does: `{ code, stdout, stderr }`. */
export function runMain(args: string[], options: InProcessOptions = {}): Promise<CliResult> {
  const run = queue.then(() => runAlone(args, options));
  queue = run.catch(() => undefined);
  return run;
}

async function runAlone(args: string[], { env = {}, programName: name = 'sync', cwd }: InProcessOptions): Promise<CliResult> {
  // spawn() leaves out the variables set to undefined: so does this environment.
  const environment = Object.fromEntries(Object.entries(childEnv(env)).filter(([, value]) => value !== undefined)) as NodeJS.ProcessEnv;
  const output = { stdout: '', stderr: '' };
  const restore = takeOver(environment, output, cwd);
  try {
    setProgramName(name, environment);
    await main([process.execPath, BIN, ...args], environment);
    const code = Number(process.exitCode ?? 0);
    return { code, stdout: output.stdout, stderr: output.stderr };
  } finally {
    restore();
  }
}

type Write = (chunk: unknown, encoding?: unknown, callback?: unknown) => boolean;

/** Gives main the globals a child would have; returns what puts the test process's back. */
function takeOver(environment: NodeJS.ProcessEnv, output: { stdout: string; stderr: string }, cwd: string | undefined): () => void {
  const saved = {
    cwd: process.cwd(),
    env: process.env,
    exitCode: process.exitCode,
    // eslint-disable-next-line no-console -- saved to be put back: main silences it
    consoleError: console.error,
    exit: process.exit,
    name: programName(),
    writeSync: fs.writeSync,
    write: fs.write,
    processListeners: PROCESS_EVENTS.map((event) => [event, process.rawListeners(event)] as const),
  };
  const streams = (['stdout', 'stderr'] as const).map((which) => {
    const stream = process[which];
    return {
      which,
      stream,
      write: stream.write,
      isTTY: Object.getOwnPropertyDescriptor(stream, 'isTTY'),
      listeners: STREAM_EVENTS.map((event) => [event, stream.rawListeners(event)] as const),
    };
  });

  process.env = environment;
  process.exitCode = undefined;
  if (cwd !== undefined) process.chdir(cwd);
  // Nothing of this process may end: a run that calls process.exit() belongs with runCli.
  process.exit = ((code?: number) => {
    throw new Error(`process.exit(${code}) called by an in-process run: use runCli for it`);
  }) as typeof process.exit;
  for (const { which, stream } of streams) {
    Object.defineProperty(stream, 'isTTY', { value: undefined, configurable: true, writable: true });
    stream.write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
      output[which] += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString();
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    }) as Write as typeof stream.write;
  }
  // The logger (pino) writes to file descriptor 2 itself, past process.stderr: catch that too.
  const fdOutput = (fd: unknown): 'stdout' | 'stderr' | undefined => (fd === 1 ? 'stdout' : fd === 2 ? 'stderr' : undefined);
  const text = (data: unknown): string => (typeof data === 'string' ? data : Buffer.from(data as Uint8Array).toString());
  fs.writeSync = ((fd: number, data: unknown, ...rest: unknown[]) => {
    const which = fdOutput(fd);
    if (!which) return (saved.writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
    const written = text(data);
    output[which] += written;
    return Buffer.byteLength(written);
  }) as typeof fs.writeSync;
  fs.write = ((fd: number, data: unknown, ...rest: unknown[]) => {
    const which = fdOutput(fd);
    if (!which) return (saved.write as (...a: unknown[]) => void)(fd, data, ...rest);
    const written = text(data);
    output[which] += written;
    const done = rest.at(-1);
    if (typeof done === 'function') process.nextTick(() => (done as (e: null, n: number) => void)(null, Buffer.byteLength(written)));
  }) as typeof fs.write;

  return () => {
    process.chdir(saved.cwd);
    process.env = saved.env;
    process.exitCode = saved.exitCode;
    // eslint-disable-next-line no-console -- putting back what main silenced
    console.error = saved.consoleError;
    process.exit = saved.exit;
    fs.writeSync = saved.writeSync;
    fs.write = saved.write;
    setProgramName(saved.name, {});
    for (const [event, before] of saved.processListeners) removeAdded(process, event, before);
    for (const { stream, write, isTTY, listeners } of streams) {
      stream.write = write;
      if (isTTY) Object.defineProperty(stream, 'isTTY', isTTY);
      else delete (stream as { isTTY?: boolean }).isTTY;
      for (const [event, before] of listeners) removeAdded(stream, event, before);
    }
  };
}

/** Removes the listeners added to `emitter`'s `event` since `before` was taken. */
function removeAdded(emitter: NodeJS.EventEmitter, event: string, before: readonly unknown[]): void {
  for (const listener of emitter.rawListeners(event)) {
    if (!before.includes(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
  }
}
