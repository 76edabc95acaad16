import type { Clock } from './clock.js';
import { LatenessMargin } from './lateness-margin.js';
import type { Limiter, Slot } from './limiter.js';

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
  /**
   * Grant up to this long before the request may leave (its `notBefore`), so the work between a
   * grant and the socket (forming the batch, serializing it, the HTTP client's own steps) happens
   * while waiting rather than after: the window is paced by departures, and that work would
   * otherwise be added to every interval. Only for senders whose transport holds the request
   * until `notBefore`.
   */
  leadMs?: number;
}

/**
 * In smooth mode, requests are planned window/limit apart, and each may leave this share of that
 * sooner after the previous one's actual departure: a request that left late (a stalled event
 * loop, a descheduled process) does not push every later one back, while the window rule, which
 * is what the platform enforces, still counts actual departures.
 */
export const CATCH_UP = 0.8;

/**
 * The window a rate of `rate` requests per second is counted in: 1000 ms, or for a fractional rate
 * the longer window that holds one request (0.5/s: one per 2000 ms).
 */
export function rateWindowMs(rate: number): number {
  // At a rate of exactly 1 both branches give 1000 ms.
  // Stryker disable next-line EqualityOperator: equivalent at rate 1 (see above)
  return rate >= 1 ? 1000 : Math.ceil(1000 / rate);
}

/** Each 429 from a known limit widens the window this much, up to MAX_WIDENING_MS in all. */
export const WIDEN_STEP_MS = 25;
export const MAX_WIDENING_MS = 250;

/**
 * Sliding-window limiter: never more than `limit` requests within any `windowMs`, counted the way a
 * server counts arrivals (not per fixed second, which allows 2x bursts at a boundary).
 *
 * The window follows departures: a slot is recorded at the moment its request leaves
 * (`Slot.depart`), and a slot granted but not yet gone counts as leaving now, so nothing is granted
 * that could land within the window of a request that left late (a stalled event loop, a slow
 * handshake). Grants are handed out strictly in request order. A 429 from the remote side pauses
 * every caller (`pauseUntil`) and either halves the limit (`slowDown`, unknown limit) or widens the
 * margin (`widenMargin`, known limit).
 */
export class RateLimiter implements Limiter {
  readonly limit: number;
  private readonly baseWindowMs: number;
  private window: number;
  private readonly clock: Clock;
  private readonly smooth: boolean;
  private readonly leadMs: number;
  /** When recorded requests left, ascending. */
  private readonly departures: number[] = [];
  /** Slots granted whose request has not left yet: the earliest each may leave (its notBefore). */
  private readonly pending = new Set<{ notBefore: number }>();
  private current: number;
  private pausedUntil = 0;
  /**
   * Smooth mode's plan: the next slot is planned a spacing after this instant. It is the last
   * slot's own plan when that slot was held back by no more than the catch-up allows (see
   * `grant`), else the instant it was granted for.
   */
  private lastPlanned = -Infinity;
  private lastRaise = 0;
  private readonly lateness = new LatenessMargin();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: RateLimiterOptions) {
    if (!(options.limit >= 1)) throw new RangeError('rate limit must be at least 1');
    this.limit = Math.floor(options.limit);
    this.baseWindowMs = options.windowMs ?? 1000;
    this.window = this.baseWindowMs;
    this.clock = options.clock;
    this.smooth = options.smooth ?? false;
    this.leadMs = options.leadMs ?? 0;
    this.current = this.limit;
  }

  /**
   * `rate` requests per second; a fractional rate becomes one request per longer window.
   * `marginMs` widens the window: a remote counts arrivals, and jitter on its side (a busy event
   * loop, its process descheduled) can bring two requests that left 1000 ms apart closer on arrival.
   */
  static perSecond(
    rate: number,
    clock: Clock,
    { marginMs = 0, smooth = false, leadMs = 0 }: { marginMs?: number; smooth?: boolean; leadMs?: number } = {},
  ): RateLimiter {
    return new RateLimiter({ limit: Math.max(1, Math.floor(rate)), windowMs: rateWindowMs(rate) + marginMs, clock, smooth, leadMs });
  }

  /** The window in force: wider than configured after 429s from a known limit, and while departures run late. */
  get windowMs(): number {
    return this.window + this.lateness.extraMs;
  }

  /** The limit in force now (lower than `limit` after a 429). */
  get currentLimit(): number {
    return this.current;
  }

  /** Resolves with a slot when the caller may send one request. */
  acquire(signal?: AbortSignal): Promise<Slot> {
    const turn = this.queue.then(() => this.waitForSlot(signal));
    // A cancelled waiter must not block the ones behind it.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  pauseUntil(time: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, time);
  }

  slowDown(): void {
    this.current = Math.max(1, Math.floor(this.current / 2));
    this.lastRaise = this.clock.now();
  }

  recover(): void {
    if (this.current >= this.limit) return;
    const now = this.clock.now();
    if (now - this.lastRaise < this.window) return;
    this.current += 1;
    this.lastRaise = now;
  }

  widenMargin(): number {
    this.window = Math.min(this.window + WIDEN_STEP_MS, this.baseWindowMs + MAX_WIDENING_MS);
    return this.window;
  }

  /**
   * Record a request arriving now if the window has room (returns 0), else return how long until it
   * has. Servers use this to answer 429 instead of queueing: an arrival is its own departure. A
   * server passes the arrival time it counted, so its count and its 429s agree to the millisecond.
   */
  tryAcquire(now = this.clock.now()): number {
    const wait = this.waitTime(now);
    if (wait > 0) return wait;
    this.departures.push(now);
    return 0;
  }

  /**
   * How long until a request may leave. A slot granted but not gone counts as leaving at
   * max(now, its notBefore): it cannot leave earlier, and until it has we do not know how much later.
   */
  private waitTime(now = this.clock.now()): number {
    const window = this.windowMs;
    while ((this.departures[0] ?? Infinity) <= now - window) this.departures.shift();
    // Slots are granted in order of their notBefore except when the window narrowed between two
    // grants (lateness margin dropping), and unsorted, the rule would then pick a later time: only
    // ever slower, never over the limit. The comparator's mutants (which leave the order as is) do not matter.
    const leaving = [...this.pending].map((slot) => Math.max(now, slot.notBefore));
    // Stryker disable next-line ArrowFunction,ArithmeticOperator,MethodExpression: see above
    leaving.sort((a, b) => a - b);
    const times = this.departures.concat(leaving);
    let windowWait = 0;
    // The `current`-th most recent request must be a whole window old.
    if (times.length >= this.current) windowWait = times[times.length - this.current]! + window - now;
    let spacingWait = 0;
    if (this.smooth) {
      const spacing = window / this.current;
      const last = times.at(-1) ?? -Infinity;
      spacingWait = Math.max(this.lastPlanned + spacing, last + spacing * CATCH_UP) - now;
    }
    return Math.max(windowWait, spacingWait, this.pausedUntil - now);
  }

  /**
   * `slept`: the caller waited for this slot, so its request was prepared during the lead and is
   * late by whatever it leaves after `notBefore`. A slot free when asked for (the first of a run,
   * or after the queue ran dry) had less lead than `leadMs` or none: its request is built after the
   * grant (the first one with cold code, 48–75 ms measured), and counting that as lateness widened
   * the window for the next ten departures on an idle machine. Its lateness counts from when the
   * lead would have had it ready.
   */
  private grant(wait: number, slept: boolean): Slot {
    const now = this.clock.now();
    const entry = { notBefore: now + Math.max(0, wait) };
    const due = slept ? entry.notBefore : Math.max(entry.notBefore, now + this.leadMs);
    this.pending.add(entry);
    this.lastPlanned = this.nextPlan(entry.notBefore);
    const close = (record: boolean): void => {
      if (!this.pending.delete(entry)) return;
      if (!record) return;
      const departed = this.clock.now();
      // Departures are recorded at their own instant, so the list stays in ascending order.
      this.departures.push(departed);
      if (this.leadMs > 0) this.lateness.record(departed - due);
    };
    return { grantedAt: now, notBefore: entry.notBefore, depart: () => close(true), cancel: () => close(false) };
  }

  /**
   * Where the plan goes on from a slot granted for `notBefore`. A slot held back past its plan by
   * the window (the request `limit` slots before it left late) keeps the plan: the next one is
   * planned a spacing after the plan, not after the delay, so one late departure pushes back one
   * later request instead of every one after it. That next request is still no sooner than
   * CATCH_UP of a spacing after the delayed one's actual departure (`waitTime`), and the window
   * counts actual departures, so the limit holds whatever the plan says. A longer delay (a pause
   * for a 429, a queue that ran dry, a departure late by more than the catch-up can make up)
   * starts the plan afresh from the slot itself: nothing bursts to make up for lost time.
   */
  private nextPlan(notBefore: number): number {
    const spacing = this.windowMs / this.current;
    const planned = this.lastPlanned + spacing;
    return notBefore - planned <= spacing * (1 - CATCH_UP) ? planned : notBefore;
  }

  private async waitForSlot(signal?: AbortSignal): Promise<Slot> {
    for (let slept = false; ; slept = true) {
      signal?.throwIfAborted();
      const wait = this.waitTime();
      if (wait <= this.leadMs) return this.grant(wait, slept);
      await this.clock.sleep(wait - this.leadMs, signal);
    }
  }
}
