/** Departures remembered. */
const RECENT = 10;
/** The most this can add to the window. */
export const MAX_LATENESS_MARGIN_MS = 250;

/**
 * How late recent requests left after the instant they were scheduled for, as extra margin for
 * the window. Late departures mean the machine is busy (our timers fire late); on a busy machine
 * the other side's timing is uncertain by as much (measured: with a core kept busy, the mock's
 * count of an arrival lagged our socket write by up to 75–110 ms, when our own departures were
 * 60–380 ms late; on a quiet machine both stay under ~25 ms). So the window widens while the
 * machine is busy and narrows back when it is not. Only for senders that schedule departures
 * (a lead > 0): elsewhere "late" would just be the normal time to build a request.
 */
export class LatenessMargin {
  private readonly recent: number[] = [];

  record(latenessMs: number): void {
    this.recent.push(Math.max(0, latenessMs));
    if (this.recent.length > RECENT) this.recent.shift();
  }

  get extraMs(): number {
    return Math.min(MAX_LATENESS_MARGIN_MS, Math.max(0, ...this.recent));
  }
}
