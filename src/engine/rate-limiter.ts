import type { Clock } from './clock.js';

export interface RateLimiterOptions {
  /** Most grants within any window. */
  limit: number;
  windowMs?: number;
  clock: Clock;
  /**
   * Space grants evenly (at least windowMs / limit apart) instead of allowing a burst of `limit`.
   * A remote that counts arrivals sees no bunching when it is slow to read a burst, and its load is even.
   */
  smooth?: boolean;
}

/**
 * Sliding-window limiter: never more than `limit` grants within any `windowMs`, counted the way a
 * server counts arrivals (not per fixed second, which allows 2x bursts at a boundary).
 *
 * Grants are handed out strictly in request order. A 429 from the remote side pauses every caller
 * (`pauseUntil`) and halves the limit (`slowDown`); successes restore it one step per window.
 */
export class RateLimiter {
  readonly limit: number;
  readonly windowMs: number;
  private readonly clock: Clock;
  private readonly smooth: boolean;
  private readonly grants: number[] = [];
  private current: number;
  private pausedUntil = 0;
  private lastRaise = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(options: RateLimiterOptions) {
    if (!(options.limit >= 1)) throw new RangeError('rate limit must be at least 1');
    this.limit = Math.floor(options.limit);
    this.windowMs = options.windowMs ?? 1000;
    this.clock = options.clock;
    this.smooth = options.smooth ?? false;
    this.current = this.limit;
  }

  /**
   * `rate` requests per second; a fractional rate becomes one request per longer window.
   * `marginMs` widens the window: a remote counts arrivals, and network jitter can bring two grants
   * that left 1000 ms apart closer together on arrival.
   */
  static perSecond(rate: number, clock: Clock, { marginMs = 0, smooth = false }: { marginMs?: number; smooth?: boolean } = {}): RateLimiter {
    return rate >= 1
      ? new RateLimiter({ limit: Math.floor(rate), windowMs: 1000 + marginMs, clock, smooth })
      : new RateLimiter({ limit: 1, windowMs: Math.ceil(1000 / rate) + marginMs, clock, smooth });
  }

  /** The limit in force now (lower than `limit` after a 429). */
  get currentLimit(): number {
    return this.current;
  }

  /** Resolves when the caller may send one request; the grant is recorded at that instant. */
  acquire(signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(() => this.waitForSlot(signal));
    // A cancelled waiter must not block the ones behind it.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Stop granting until `time` (epoch ms), e.g. a 429's Retry-After. */
  pauseUntil(time: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, time);
  }

  /** Halve the rate after the remote side said we are too fast. */
  slowDown(): void {
    this.current = Math.max(1, Math.floor(this.current / 2));
    this.lastRaise = this.clock.now();
  }

  /** Additive increase: one step back towards `limit`, at most once per window. */
  recover(): void {
    if (this.current >= this.limit) return;
    const now = this.clock.now();
    if (now - this.lastRaise < this.windowMs) return;
    this.current += 1;
    this.lastRaise = now;
  }

  /**
   * Grant a slot now if one is free (returns 0), else return how long until one frees up. Servers
   * use this to answer 429 instead of queueing; the waiting `acquire` is built on it.
   */
  tryAcquire(): number {
    const now = this.clock.now();
    while (this.grants.length > 0 && this.grants[0]! <= now - this.windowMs) this.grants.shift();
    const windowWait =
      this.grants.length < this.current ? 0 : this.grants[this.grants.length - this.current]! + this.windowMs - now;
    const last = this.grants.at(-1);
    const spacingWait = this.smooth && last !== undefined ? last + this.windowMs / this.current - now : 0;
    const wait = Math.max(windowWait, spacingWait, this.pausedUntil - now);
    if (wait > 0) return wait;
    this.grants.push(now);
    return 0;
  }

  private async waitForSlot(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const wait = this.tryAcquire();
      if (wait === 0) return;
      await this.clock.sleep(wait, signal);
    }
  }
}
