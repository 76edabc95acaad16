/** Callers answered per event-loop turn when many outcomes arrive at once. */
export const ANSWERS_PER_TURN = 256;

/**
 * Hands callers their results a slice per event-loop turn, in order. A batch's outcomes all
 * arrive in one turn, and answering a caller (serializing, the socket write, its access line)
 * is most of what serve spends on it: answering 1,500 at once held the event loop for
 * 150-800 ms under wrk (issue 19). Meanwhile the timer that lets the next batch leave could not
 * fire, so it left late, the rate limiter read the lateness as a busy machine and widened its
 * window (fewer slots), and new requests were not read until the whole burst was over. A slice
 * per turn lets timers and incoming requests in between slices; it changes no result.
 */
export class AnswerPacer<T> {
  private resolvers: ((value: T) => void)[] = [];
  private values: T[] = [];
  private scheduled = false;

  constructor(
    private readonly perTurn = ANSWERS_PER_TURN,
    private readonly schedule: (callback: () => void) => void = (callback) => void setImmediate(callback),
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
    // The slice leaves the arrays before it is answered: under steady load they may never run
    // empty, and must not hold on to every caller answered since they last did (its result, its
    // socket through the resolver).
    const resolvers = this.resolvers.splice(0, this.perTurn);
    const values = this.values.splice(0, this.perTurn);
    for (let i = 0; i < resolvers.length; i++) resolvers[i]!(values[i]!);
    if (this.resolvers.length > 0) this.schedule(this.slice);
    else this.scheduled = false;
  };
}
