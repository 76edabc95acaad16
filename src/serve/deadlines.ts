/** Past this many settled entries at the front, the list is cut down (amortized: each entry is copied at most once). */
const COMPACT_AFTER = 1024;

/** One caller's deadline; `expire` is dropped once it has run or been cancelled (it holds the caller). */
export interface Deadline {
  readonly at: number;
  expire: (() => void) | undefined;
}

export interface DeadlineClock {
  now(): number;
  setTimer(callback: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

const systemTimers: DeadlineClock = {
  now: () => performance.now(),
  setTimer: (callback, ms) => setTimeout(callback, ms),
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/**
 * Every caller's request timeout on one timer. All callers wait the same `ms`, so their deadlines
 * come in the order they were added: a list in that order and a timer for its first live entry
 * replace a Node timer per request (its object, its insertion and removal in the timer lists, and
 * the garbage: issue 19, serve's CPU per answer). A cancelled entry is only marked; the front of
 * the list is skipped past as it settles, which is almost always in order (batches leave in
 * submission order), so the list holds about the callers waiting now.
 */
export class Deadlines {
  private entries: Deadline[] = [];
  private head = 0;
  private timer: unknown;
  private firing = false;

  constructor(
    private readonly ms: number,
    private readonly clock: DeadlineClock = systemTimers,
  ) {}

  /** Calls `expire` once `ms` have passed, unless `cancel` comes first. */
  add(expire: () => void): Deadline {
    const entry: Deadline = { at: this.clock.now() + this.ms, expire };
    this.entries.push(entry);
    if (this.timer === undefined && !this.firing) this.arm(entry.at);
    return entry;
  }

  /** The entry will not expire (harmless once it has). */
  cancel(entry: Deadline): void {
    entry.expire = undefined;
    this.skipSettled();
  }

  /** Entries not yet expired nor cancelled, and those behind the first live one not yet skipped: what the list holds. */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** Entries kept in memory, the settled ones not yet dropped included. */
  get held(): number {
    return this.entries.length;
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    // An expiry may add an entry: its timer is armed below, for whichever entry is then first.
    this.firing = true;
    const now = this.clock.now();
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head]!;
      if (entry.expire && entry.at > now) break;
      this.head += 1;
      const expire = entry.expire;
      entry.expire = undefined;
      expire?.();
    }
    this.firing = false;
    this.skipSettled();
    if (this.head < this.entries.length) this.arm(this.entries[this.head]!.at);
  };

  private skipSettled(): void {
    while (this.head < this.entries.length && this.entries[this.head]!.expire === undefined) this.head += 1;
    if (this.head === this.entries.length) {
      // Nobody waits: no timer left to keep a stopping process alive.
      this.entries = [];
      this.head = 0;
      this.clock.clearTimer(this.timer);
      this.timer = undefined;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  private arm(at: number): void {
    // A timer may fire a fraction of a millisecond early by this clock: it then re-arms for the rest.
    this.timer = this.clock.setTimer(this.fire, Math.max(1, Math.ceil(at - this.clock.now())));
  }
}
