import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import type { Clock } from '../../src/engine/clock.js';

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

/** Turns with no clock use before time may move on; and the most busy turns tolerated before it moves anyway. */
const QUIET_TURNS = 2;
const MAX_BUSY_TURNS = 10_000;
/**
 * Real timer turns (1 ms each at least) given to HTTP requests in flight before time moves on
 * anyway (see `schedule`): a request a test holds unanswered costs each move at most this many
 * milliseconds, not a deadlock.
 */
const MAX_REQUEST_TURNS = 10;

/**
 * This process's HTTP client requests in flight, from their start until they close (answered,
 * failed or aborted), through Node's own diagnostics channel: nock's intercepted requests too.
 */
const requestsInFlight = new Set<ClientRequest>();
subscribe('http.client.request.start', (message) => {
  const { request } = message as { request: ClientRequest };
  requestsInFlight.add(request);
  request.once('close', () => requestsInFlight.delete(request));
});
/**
 * No test needs more sleeps than this on one clock. A bug (or a mutant under `npm run
 * test:mutation`) that retries or polls forever would otherwise spin through virtual time until the
 * test's timeout; past the cap every sleep rejects, so such a test fails in milliseconds instead.
 */
const MAX_SLEEPS = 100_000;

/**
 * Discrete-event time for tests: `sleep` never waits for real. Time moves to the next pending sleep
 * only once the code under test has gone quiet (no clock calls for two event-loop turns), so work
 * that happens "at the same instant" — a dispatcher handing out several slots, yielding a turn
 * between each — finishes before the clock jumps, as it would in real time. Every requested sleep
 * is recorded in `sleeps`.
 *
 * Quiet is not idle while an HTTP request is in flight: nock answers on real timers (a 0 ms
 * `setTimeout`, at least 1 ms of real time), and two quiet turns take ~0.1 ms. Time used to move on
 * meanwhile, sleep after sleep (a rate limiter waiting behind that request's slot polls every
 * spacing), so an answer came virtual seconds after its request, more on a busy machine: a run
 * with --retry-for 60 s ended 96 s into an outage (a fresh-clone CI run with a core busy). So while
 * a request is in flight a quiet spell ends with a real timer turn (setTimeout 1 ms: nock's timers
 * due by then fire first), and time moves on once the answer's work has gone quiet too.
 */
export class VirtualClock implements Clock {
  readonly sleeps: number[] = [];
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];
  private scheduled = false;
  private activity = 0;

  constructor(start = Date.parse('2026-01-20T15:30:00.000Z')) {
    this.time = start;
  }

  now(): number {
    this.activity += 1;
    return this.time;
  }

  /** Move time forward by hand (e.g. "a request took 300 ms"). */
  advance(ms: number): void {
    this.time += ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.activity += 1;
    this.sleeps.push(ms);
    if (this.sleeps.length > MAX_SLEEPS) return Promise.reject(new Error(`VirtualClock: more than ${MAX_SLEEPS} sleeps: a loop that never ends?`));
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, resolve };
      const onAbort = (): void => {
        this.timers = this.timers.filter((t) => t !== timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      timer.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.timers.push(timer);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    let quiet = 0;
    let busy = 0;
    let requestTurns = 0;
    let seen = this.activity;
    const turn = (): void => {
      if (this.activity === seen) quiet += 1;
      else {
        quiet = 0;
        busy += 1;
        requestTurns = 0;
        seen = this.activity;
      }
      if (quiet < QUIET_TURNS && busy < MAX_BUSY_TURNS) {
        setImmediate(turn);
        return;
      }
      if (busy < MAX_BUSY_TURNS && requestTurns < MAX_REQUEST_TURNS && requestsInFlight.size > 0) {
        requestTurns += 1;
        quiet = 0;
        setTimeout(turn, 1);
        return;
      }
      this.scheduled = false;
      this.fireNext();
    };
    setImmediate(turn);
  }

  private fireNext(): void {
    this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = this.timers.shift();
    if (!next) return;
    this.time = Math.max(this.time, next.at);
    next.resolve();
    if (this.timers.length > 0) this.schedule();
  }
}
