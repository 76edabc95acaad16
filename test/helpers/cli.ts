import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/sync.js', import.meta.url));
/** The same program under its second name, the one installed for cron. */
export const BIN_CLI = fileURLToPath(new URL('../../bin/sync-cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Push remembers what a platform accepted: every child starts with a state of its own, never the
// user's ~/.local/state (tests about state pass SYNC_STATE_DIR to share one between runs).
let stateHomes: string | undefined;

/**
 * Removes the states of the runs started so far. test/setup.ts calls it after every file: a hook
 * registered here would run only after the first file of a worker that shares its modules between
 * files (`isolate: false`), leaving every later file's states in the temp folder.
 */
export function removeStateHomes(): void {
  if (stateHomes) rmSync(stateHomes, { recursive: true, force: true });
  stateHomes = undefined;
}

/** Environment for a child (and for an in-process run, in-process-cli.ts): no colour, no TTY hints, CI-like, a state of its own. */
export function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  stateHomes ??= mkdtempSync(join(tmpdir(), 'sync-state-'));
  const stateHome = mkdtempSync(join(stateHomes, 'run-'));
  return {
    ...process.env,
    CI: 'true',
    NO_COLOR: '1',
    SYNC_SOURCE_URL: undefined,
    SYNC_API_KEY: undefined,
    SYNC_DOWNSTREAM_URL: undefined,
    SYNC_DOWNSTREAM_TOKEN: undefined,
    SYNC_STATE_DIR: undefined,
    XDG_STATE_HOME: stateHome,
    ...env,
  };
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Called once the child is running, e.g. to send it a signal. */
  onSpawn?: (child: ChildProcess) => void;
  timeoutMs?: number;
  /** The launcher to run: BIN (`sync`, the default) or BIN_CLI (`sync-cli`). */
  bin?: string;
}

/** Runs `sync …` to completion (bounded by `timeoutMs`). */
export function runCli(args: string[], { env = {}, cwd, onSpawn, timeoutMs = 15_000, bin = BIN }: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: childEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    onSpawn?.(child);
  });
}

export interface RunningServer {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  stop: () => Promise<CliResult>;
}

/** Starts a long-running `sync …` server (mock, serve) and waits for its `listening URL` line. */
export function startServer(args: string[], env: Record<string, string | undefined> = {}): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const closed = new Promise<CliResult>((done) => child.on('close', (code) => done({ code, stdout, stderr })));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${stderr}`));
    }, 10_000);
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = /^listening (http:\/\/\S+)$/m.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        url: match[1]!,
        child,
        stderr: () => stderr,
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGTERM');
          return closed;
        },
      });
    });
    child.on('error', reject);
  });
}

/** In cron (no TTY) stderr is a JSON log: every line a JSON object, whatever goes wrong. */
export function everyLineIsJson(stderr: string): boolean {
  return stderr
    .split('\n')
    .filter(Boolean)
    .every((line) => {
      try {
        return typeof JSON.parse(line) === 'object';
      } catch {
        return false;
      }
    });
}
