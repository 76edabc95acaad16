/**
 * Milliseconds of one event-loop turn spent answering callers when many outcomes arrive at once.
 * A 2,000-profile batch's answers take 60–80 ms here, so at this bound a batch is answered in one
 * turn on a quiet machine, and sliced only where answering is several times slower than that.
 * Measured under wrk (platform 5/s, batch 2,000, 4 rounds at 1,500 connections, 2 at 3,000, the
 * same builds side by side): with 8 ms slices the last callers of each batch waited several turns
 * more, p99 436–565 ms at 1,500 (over the 500 ms goal in 4 of 7 rounds of an earlier window);
 * answered in one turn, 411–464 ms, the same CPU per answer, and at 3,000 connections 0.96–0.93×
 * the throughput of 8 ms slices (still 1.19–1.33× the baseline's).
 */
export const TURN_BUDGET_MS = 100;

/**
 * Hands callers their results in slices of at most TURN_BUDGET_MS per event-loop turn, in order. A
 * batch's outcomes all arrive in one turn, and answering a caller (serializing, the socket write,
 * its access line) is most of what serve spends on it: answering 1,500 at once held the event loop
 * for 150-800 ms under wrk (issue 19). Meanwhile the timer that lets the next batch leave could not
 * fire, so it left late, the rate limiter read the lateness as a busy machine and widened its
 * window (fewer slots), and new requests were not read until the whole burst was over. A slice per
 * turn lets timers and incoming requests in between slices; it changes no result.
 *
 * The slice is bounded by time, not by count (it was 256 answers): what a turn may hold up is the
 * departure timer, in milliseconds, while what one answer costs moves with the machine and its
 * load by a factor of several, so a count that suits a quiet machine holds the loop for long on a
 * busy one and slices needlessly fine on a quiet one. At least one caller is answered per turn.
 */
export class AnswerPacer<T> {
  private readonly resolvers: ((value: T) => void)[] = [];
  private readonly values: T[] = [];
  private scheduled = false;

  constructor(
    private readonly budgetMs = TURN_BUDGET_MS,
    private readonly schedule: (callback: () => void) => void = (callback) => void setImmediate(callback),
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Calls `resolve(value)` in a coming turn, after everything handed in before it. */
  hand(resolve: (value: T) => void, value: T): void {
    this.resolvers.push(resolve);
    this.values.push(value);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(this.slice);
  }

  /** Results handed in and not yet passed on. */
  get pending(): number {
    return this.resolvers.length;
  }

  private readonly slice = (): void => {
    const until = this.now() + this.budgetMs;
    const { resolvers, values } = this;
    let answered = 0;
    do {
      resolvers[answered]!(values[answered]!);
      answered += 1;
    } while (answered < resolvers.length && this.now() < until);
    // The slice leaves the arrays once answered: under steady load they may never run empty, and
    // must not hold on to every caller answered since they last did (its result, its socket
    // through the resolver).
    resolvers.splice(0, answered);
    values.splice(0, answered);
    if (resolvers.length > 0) this.schedule(this.slice);
    else this.scheduled = false;
  };
}
