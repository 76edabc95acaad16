import type { Clock } from '../../src/engine/clock.js';

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

/**
 * Discrete-event time for tests: `sleep` never waits for real. Pending sleeps fire one at a time in
 * time order, each after the event loop has had a turn, so concurrent work interleaves as it would
 * in real time. Every requested sleep is recorded in `sleeps`.
 */
export class VirtualClock implements Clock {
  readonly sleeps: number[] = [];
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];
  private scheduled = false;

  constructor(start = Date.parse('2026-01-20T15:30:00.000Z')) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  /** Move time forward by hand (e.g. "a request took 300 ms"). */
  advance(ms: number): void {
    this.time += ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
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
    setImmediate(() => {
      this.scheduled = false;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift();
      if (!next) return;
      this.time = Math.max(this.time, next.at);
      next.resolve();
      if (this.timers.length > 0) this.schedule();
    });
  }
}
