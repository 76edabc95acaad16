/**
 * Timestamps in ascending order, the oldest dropped as they leave a window. A queue on an array
 * with a moving head: pushing and dropping are O(1), and the array is compacted once most of it is
 * dead, so memory follows what the window holds, not what ever arrived.
 */
class TimeQueue {
  private times: number[] = [];
  private head = 0;

  get size(): number {
    return this.times.length - this.head;
  }

  push(time: number): void {
    this.times.push(time);
  }

  /** Drops every time at or before `cutoff`; the queue then holds the times after it. */
  dropThrough(cutoff: number): void {
    while (this.head < this.times.length && this.times[this.head]! <= cutoff) this.head += 1;
    this.compact();
  }

  dropOldest(): void {
    this.head += 1;
    this.compact();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * A rolling-window rate limit counted on arrival, as HubSpot's: a request arriving at `t` is
 * admitted when fewer than `limit` admitted requests arrived in (t − windowMs, t]. Refused
 * requests do not count. Holds at most `limit` timestamps.
 */
export class RollingWindow {
  private readonly admitted = new TimeQueue();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Counts the arrival and returns true, or returns false (the window is full). */
  tryAdmit(now: number): boolean {
    this.admitted.dropThrough(now - this.windowMs);
    if (this.admitted.size >= this.limit) return false;
    this.admitted.push(now);
    return true;
  }

  /** Admissions left in the window ending at `now`. */
  remaining(now: number): number {
    this.admitted.dropThrough(now - this.windowMs);
    return Math.max(0, this.limit - this.admitted.size);
  }
}

/**
 * The most arrivals seen within any `windowMs` (a window ending at each arrival). Remembers at most
 * `cap` arrivals: past that rate the peak it reports is `cap` (a lower bound), and memory stays flat.
 */
export class ArrivalPeak {
  peak = 0;
  private readonly recent = new TimeQueue();

  constructor(
    private readonly windowMs: number,
    private readonly cap: number,
  ) {}

  record(now: number): void {
    this.recent.push(now);
    this.recent.dropThrough(now - this.windowMs);
    if (this.recent.size > this.cap) this.recent.dropOldest();
    this.peak = Math.max(this.peak, this.recent.size);
  }
}

/** Requests per calendar day (UTC): HubSpot's daily limit, reset at midnight. */
export class DailyCounter {
  private day = '';
  private used = 0;

  constructor(readonly limit: number) {}

  tryAdmit(now: number): boolean {
    this.roll(now);
    if (this.used >= this.limit) return false;
    this.used += 1;
    return true;
  }

  remaining(now: number): number {
    this.roll(now);
    return Math.max(0, this.limit - this.used);
  }

  private roll(now: number): void {
    const day = new Date(now).toISOString().slice(0, 10);
    if (day === this.day) return;
    this.day = day;
    this.used = 0;
  }
}
