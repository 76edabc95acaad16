import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeeperReply, KeeperRequest } from './keeper-protocol.js';

/** Distributive Omit: each request shape without its id. */
type Request = KeeperRequest extends infer R ? (R extends KeeperRequest ? Omit<R, 'id'> : never) : never;
type Done = Extract<KeeperReply, { type: 'done' }>;

/** The keeper ended, or refused a request: why, in words fit for one line. */
export class KeeperFailure extends Error {
  constructor(
    message: string,
    /** The errno-style code of a refused request (ENOSPC…), or the signal that ended the keeper. */
    readonly code?: string,
    /** True when the keeper process itself died (a crash in LMDB), not a refused request. */
    readonly crashed = false,
  ) {
    super(message);
  }
}

/**
 * The compiled keeper next to this module (dist/state/lmdb-keeper.js); when running from the
 * TypeScript sources (tests), the built one in dist/. `here` is this module's path.
 */
export function keeperScript(here = fileURLToPath(import.meta.url)): string {
  const sibling = join(dirname(here), 'lmdb-keeper.js');
  return here.endsWith('.ts') || !existsSync(sibling) ? resolve(dirname(here), '../../dist/state/lmdb-keeper.js') : sibling;
}

/** How long a failed send waits for the keeper's exit to say why it failed. */
const EXIT_NOTICE_MS = 2000;

/** How long one request may take: generous (opening a state of millions of entries takes seconds). */
export const REQUEST_TIMEOUT_MS = 300_000;

/** A pending timer: the request deadline, the close grace, the exit notice. */
export interface KeeperTimer {
  unref(): unknown;
}

/**
 * The timers the keeper's deadlines run on: the system's, or a test's (the 300 s deadline and the
 * 10 s grace are asserted without waiting for them).
 */
export interface KeeperTimers {
  setTimeout(callback: () => void, ms: number): KeeperTimer;
  clearTimeout(timer: KeeperTimer): void;
}

/** How a keeper is started: tests start one that misbehaves on purpose, on virtual timers. */
export interface KeeperOptions {
  /** The script the child runs (default: `keeperScript()`). */
  script?: string;
  timers?: KeeperTimers;
}

// Node's own functions, not wrappers; the timers they are given back are always Node's Timeouts.
const systemTimers = { setTimeout, clearTimeout } as KeeperTimers;

/** A keeper started ahead of its use (KeeperClient.startAhead). */
let startedAhead: KeeperClient | undefined;

/** Talks to one keeper process (lmdb-keeper.ts): requests in order, each answered once. */
export class KeeperClient {
  private readonly pending = new Map<number, { resolve: (done: Done) => void; reject: (error: KeeperFailure) => void; onEntries?: (data: Uint8Array) => void }>();
  private ids = 0;
  private ended: KeeperFailure | undefined;
  private stderr = '';
  private closing = false;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly timers: KeeperTimers = systemTimers,
  ) {
    // LMDB prints what it finds wrong on its own stderr: kept for the reason, never shown raw.
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      if (this.stderr.length < 64 * 1024) this.stderr += text;
    });
    child.on('message', (reply: KeeperReply) => this.receive(reply));
    // 'close', not 'exit': only then has its stderr been read to the end. On a loaded machine the
    // exit can be seen before the last of the pipe is, and the reason it wrote would be missing.
    this.exited = new Promise((resolveExit) => {
      child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.ended ??= new KeeperFailure(this.describeEnd(code, signal), signal ?? undefined, code !== 0 || signal !== null);
        for (const { reject } of this.pending.values()) reject(this.ended);
        this.pending.clear();
        resolveExit();
      });
    });
    this.idle();
  }

  /** A keeper, the one started ahead (`startAhead`) if it is still there. */
  static spawn(): KeeperClient {
    const ahead = startedAhead;
    startedAhead = undefined;
    if (!ahead || ahead.ended) return KeeperClient.start();
    (ahead.child.stderr as Socket | null)?.ref();
    return ahead;
  }

  /**
   * Starts a keeper now, for the next `spawn()` to take: its own start (a Node process loading
   * lmdb, 0.3–0.8 s here) then runs while the caller is still loading its modules, instead of
   * after, before the first request. Not taken, it costs nothing: idle, it never holds this process
   * up, and it exits when this process does.
   */
  static startAhead(): void {
    if (startedAhead) return;
    startedAhead = KeeperClient.start();
    // Its stderr pipe would keep a run that never takes it (a usage error) from exiting.
    (startedAhead.child.stderr as Socket | null)?.unref();
  }

  /** A keeper started now, never the one started ahead. */
  static start({ script = keeperScript(), timers }: KeeperOptions = {}): KeeperClient {
    // It needs none of the run's secrets: the credentials stay out of its environment.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SYNC_')));
    const child = fork(script, { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env });
    return new KeeperClient(child, timers);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * A request, answered within `timeoutMs` or the keeper is ended: a keeper that stopped (a
   * frozen disk, SIGSTOP) must not hold the run for ever.
   */
  request(request: Request, onEntries?: (data: Uint8Array) => void, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Done> {
    if (this.ended) return Promise.reject(this.ended);
    const id = ++this.ids;
    this.hold();
    const timer = this.timers.setTimeout(() => {
      const within = timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`;
      this.ended ??= new KeeperFailure(`the process reading it did not answer within ${within}`, 'ETIMEDOUT', true);
      this.child.kill('SIGKILL');
    }, timeoutMs);
    timer.unref();
    return new Promise<Done>((resolveDone, reject) => {
      const settle = <T,>(finish: (value: T) => void) => (value: T) => {
        this.timers.clearTimeout(timer);
        finish(value);
      };
      this.pending.set(id, { resolve: settle(resolveDone), reject: settle(reject), onEntries });
      this.child.send({ ...request, id } as KeeperRequest, (error) => {
        if (!error) return;
        // A keeper that just died refuses the pipe before its exit is seen: the exit (a signal, a
        // code) says why, the EPIPE does not. It is waited for briefly; exiting rejects this request.
        const seen = this.timers.setTimeout(() => this.fail(id, new KeeperFailure(`the state process did not take the request (${error.message})`)), EXIT_NOTICE_MS);
        void this.exited.then(() => this.timers.clearTimeout(seen));
      });
    });
  }

  /** Asks it to close its environment and exit; ends it if it has not within `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    this.closing = true;
    this.hold();
    if (!this.ended) {
      const timer = this.timers.setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.request({ op: 'close' }).catch(() => undefined);
      this.timers.clearTimeout(timer);
    }
    await this.exited;
  }

  /** Ends it at once (after a failed commit lmdb never finishes closing). */
  async kill(): Promise<void> {
    this.closing = true;
    this.hold();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Keeps this process alive for the keeper: while it owes an answer, or is being closed. */
  private hold(): void {
    this.child.ref();
    (this.child.channel as { ref?: () => void } | null | undefined)?.ref?.();
  }

  private receive(reply: KeeperReply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    if (reply.type === 'entries') return waiting.onEntries?.(reply.data);
    this.pending.delete(reply.id);
    this.idle();
    if (reply.type === 'done') waiting.resolve(reply);
    else waiting.reject(new KeeperFailure(reply.message, reply.code));
  }

  private fail(id: number, error: KeeperFailure): void {
    const waiting = this.pending.get(id);
    this.pending.delete(id);
    this.idle();
    waiting?.reject(error);
  }

  /** An idle keeper never keeps a finished run alive. */
  private idle(): void {
    if (this.pending.size > 0 || this.closing) return;
    this.child.unref();
    (this.child.channel as { unref?: () => void } | null | undefined)?.unref?.();
  }

  private describeEnd(code: number | null, signal: NodeJS.Signals | null): string {
    // Node's report of an error nothing caught begins with where it was thrown and that line of
    // the source, which says nothing of why: both go.
    const said = this.stderr
      .replace(/^(file|node):\S*:\d+\n.*\n/gm, '')
      .split('\n')
      .map((line) => line.trim())
      .find((line) => line !== '' && !line.startsWith('at ') && !/^(file:|node:|\^|Node\.js v)/.test(line));
    const because = said ? `: ${said.length > 160 ? `${said.slice(0, 160)}…` : said}` : '';
    if (signal) return `the process reading it crashed (${signal})${because}`;
    if (code !== 0) return `the process reading it failed (exit ${code})${because}`;
    return 'the process reading it ended';
  }
}
