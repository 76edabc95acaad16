import { CircuitOpenError, InterruptedError, RateLimitedError, UnavailableError, toSyncError, type SyncError } from '../errors.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import type { Clock } from './clock.js';
import type { ConcurrencyGate, Permit } from './concurrency-gate.js';
import type { Limiter, Slot } from './limiter.js';
import type { RetryBudget } from './retry-budget.js';
import { formatDuration } from './duration.js';
import { isTransient, type RetryCounts, type RetryKind, type RetryPolicy, type Verdict } from './retry-policy.js';

export interface RetryEvent {
  /** The attempt that failed (1 = first try). */
  attempt: number;
  kind: RetryKind;
  error: SyncError;
  delayMs: number;
  /** Epoch ms of the next attempt. */
  retryAt: number;
}

export interface ExecutorStats {
  /** Attempts that were sent (first tries and retries). */
  requests: number;
  retries: number;
  rateLimited: number;
}

export interface ExecutorOptions {
  policy: RetryPolicy;
  clock: Clock;
  /** Every attempt, retries included, takes a slot here first. */
  limiter?: Limiter;
  /** Caps retries at a share of first attempts (push, serve). */
  budget?: RetryBudget;
  /** Fails fast while the remote is known to be down (push, serve). */
  breaker?: CircuitBreaker;
  /** At most so many attempts on the wire at once (`--concurrency`); each takes a permit before its slot. */
  gate?: ConcurrencyGate;
  /**
   * On a 429: halve the limiter's rate (a source with an unknown limit), or pause and widen the
   * window's margin (a platform whose limit we know: the 429 says arrivals landed closer together
   * than we spaced them).
   */
  slowDownOn429?: boolean;
}

/** One attempt. `slot` is its rate slot: call `slot.depart()` the moment the request leaves. */
export type Attempt<T> = (n: number, slot: Slot | undefined) => Promise<T>;

export interface RunOptions {
  signal?: AbortSignal;
  onRetry?: (event: RetryEvent) => void;
  /** A rate slot the caller already holds for the first attempt (the batcher takes one to form a batch). */
  slot?: Slot;
  /** Likewise a concurrency permit, taken before that slot. */
  permit?: Permit;
}

/**
 * The one retry loop of the tool, used by pull, push and serve. Each attempt passes the breaker
 * and waits for a rate slot; failures go to the retry policy; retries spend the budget; 429s pause
 * the shared limiter so every request to that remote backs off together.
 * Attempts must throw SyncErrors (see `http/errors.ts`); anything else is unexpected.
 */
export class Executor {
  readonly stats: ExecutorStats = { requests: 0, retries: 0, rateLimited: 0 };
  private readonly options: ExecutorOptions;

  constructor(options: ExecutorOptions) {
    this.options = options;
  }

  async run<T>(attempt: Attempt<T>, { signal, onRetry, slot: held, permit: heldPermit }: RunOptions = {}): Promise<T> {
    const { policy, clock, limiter, budget, breaker } = this.options;
    const counts: RetryCounts & Required<Pick<RetryCounts, 'rateLimitedMs'>> = { transient: 0, rateLimited: 0, rateLimitedMs: 0 };
    for (let n = 1; ; n++) {
      // Getting through (breaker, rate slot) is not an attempt: its failures say nothing about the
      // remote, so they end the request as they are, without touching the breaker.
      let slot: Slot | undefined;
      let permit: Permit | undefined;
      try {
        ({ slot, permit } = await this.admit(n === 1 ? { slot: held, permit: heldPermit } : {}, counts, signal));
      } catch (caught) {
        if (signal?.aborted) throw new InterruptedError();
        throw caught;
      }
      try {
        this.stats.requests += 1;
        if (n === 1) budget?.deposit();
        let result: T;
        try {
          result = await attempt(n, slot);
        } finally {
          // An attempt that never said when it left is counted as leaving now: later than it can
          // really have left, so the window errs on the safe side.
          slot?.depart();
          permit?.release();
        }
        breaker?.success();
        limiter?.recover();
        return result;
      } catch (caught) {
        if (signal?.aborted) throw new InterruptedError();
        const error = toSyncError(caught);
        if (isTransient(error)) breaker?.failure();
        else breaker?.neutral();

        const now = clock.now();
        counts.firstFailureAt ??= this.failureStart(now);
        const verdict = policy.decide(error, counts, now);
        if (verdict.action === 'give-up') throw this.giveUp(error, verdict, counts);
        // Being told to slow down is cooperation, not a failure: 429 retries do not spend the budget.
        // With --retry-for a spent budget does not end the request either: the budget only decides
        // whether a failing request gives up, and the user asked it not to. The load stays bounded
        // without it: every retry takes a rate slot (the remote never sees more than --rate), an
        // open breaker lets one probe through per cool-down, and backoff grows to 60 s with full
        // jitter, so waiting requests do not come back in step.
        if (verdict.kind === 'transient' && budget && policy.retryForMs === undefined && !budget.withdraw()) {
          throw new UnavailableError(`${error.message} (retry budget spent: the downstream is failing too often to retry)`, {
            cause: error,
          });
        }
        if (verdict.kind === 'rate-limited') {
          counts.rateLimited += 1;
          counts.rateLimitedMs += verdict.delayMs;
          this.stats.rateLimited += 1;
          if (error instanceof RateLimitedError && error.scope === 'connections') {
            // Too many at once (Mailchimp), not too many over time: fewer in flight, no pause.
            this.options.gate?.lower();
          } else {
            limiter?.pauseUntil(now + verdict.delayMs);
            if (this.options.slowDownOn429 ?? true) limiter?.slowDown();
            else limiter?.widenMargin();
          }
        } else {
          counts.transient += 1;
        }
        this.stats.retries += 1;
        onRetry?.({ attempt: n, kind: verdict.kind, error, delayMs: verdict.delayMs, retryAt: now + verdict.delayMs });
        try {
          await clock.sleep(verdict.delayMs, signal);
        } catch {
          throw new InterruptedError();
        }
      }
    }
  }

  /**
   * With --retry-for, how long work refused by the open breaker may wait for its next probe:
   * until the remote has been failing for --retry-for (epoch ms). Undefined: fail now, as without
   * --retry-for. Counted from the outage's first failure, not from each refusal: a run facing a
   * remote that stays down ends about --retry-for into the outage, not --retry-for per batch.
   */
  breakerWaitUntil(): number | undefined {
    const { breaker, clock, policy } = this.options;
    if (!breaker || policy.retryForMs === undefined) return undefined;
    const now = clock.now();
    const until = (breaker.failingSince ?? now) + policy.retryForMs;
    return now < until ? until : undefined;
  }

  /**
   * Until the open breaker lets a probe through (at most until `until`), or the probe that is out
   * answers. Returns at once when an attempt may go now.
   */
  async waitForProbe(until: number, signal?: AbortSignal): Promise<void> {
    const { breaker, clock } = this.options;
    const now = clock.now();
    if (!breaker || now >= until) return;
    if (breaker.state === 'open') return clock.sleep(Math.min(breaker.reopensAt, until) - now, signal);
    if (breaker.probeOut) await untilAborted(breaker.whenChanged(), signal);
  }

  /**
   * Through the breaker and the rate limit. An open breaker refuses at once (CircuitOpenError);
   * with --retry-for the request waits for the breaker's next probe instead, for as long as its
   * retry time lasts. Checked before and after the slot wait: an open circuit should not cost a
   * rate slot.
   */
  private async admit(
    held: { slot?: Slot; permit?: Permit },
    counts: RetryCounts,
    signal?: AbortSignal,
  ): Promise<{ slot: Slot | undefined; permit: Permit | undefined }> {
    const { limiter, breaker, gate } = this.options;
    let { slot, permit } = held;
    for (;;) {
      if (breaker?.state !== 'open') {
        try {
          // The permit before the slot: a slot held while waiting for room would hold back every
          // grant after it.
          permit ??= await gate?.acquire(signal);
          slot ??= await limiter?.acquire(signal);
        } catch (error) {
          permit?.release();
          throw error;
        }
        if (!breaker || breaker.allow()) return { slot, permit };
      }
      slot?.cancel();
      permit?.release();
      slot = undefined;
      permit = undefined;
      await this.waitForBreaker(breaker!, counts, signal);
    }
  }

  private async waitForBreaker(breaker: CircuitBreaker, counts: RetryCounts, signal?: AbortSignal): Promise<void> {
    const { clock, policy } = this.options;
    const refused = new CircuitOpenError(breaker.reopensAt);
    if (policy.retryForMs === undefined) throw refused;
    const now = clock.now();
    counts.firstFailureAt ??= this.failureStart(now);
    const until = counts.firstFailureAt + policy.retryForMs;
    if (now >= until) throw this.outOfTime(refused, now - counts.firstFailureAt, counts);
    await this.waitForProbe(until, signal);
  }

  /** A request caught in an outage counts its --retry-for from the outage's first failure. */
  private failureStart(now: number): number {
    return Math.min(now, this.options.breaker?.failingSince ?? now);
  }

  private giveUp(error: SyncError, verdict: Extract<Verdict, { action: 'give-up' }>, counts: RetryCounts): SyncError {
    switch (verdict.reason) {
      case 'not-retryable':
        return error;
      case 'rate-limited-too-long':
        return new UnavailableError(
          `${error.message} (rate-limited for ${formatDuration(verdict.waitedMs)} in all, the most a request waits on 429s unless --retry-for allows more; gave up)`,
          { cause: error },
        );
      case 'out-of-time':
        return this.outOfTime(error, verdict.failingForMs, counts);
      default:
        return this.exhausted(error, counts.transient + counts.rateLimited);
    }
  }

  private outOfTime(error: SyncError, failingForMs: number, counts: RetryCounts): UnavailableError {
    const tries = counts.transient + counts.rateLimited;
    return new UnavailableError(
      `${error.message} (still failing ${formatDuration(failingForMs)} after the first failure, all the time --retry-for allows; gave up after ${tries} ${tries === 1 ? 'retry' : 'retries'})`,
      { cause: error },
    );
  }

  private exhausted(error: SyncError, tries: number): UnavailableError {
    return new UnavailableError(`${error.message} (gave up after ${tries} ${tries === 1 ? 'retry' : 'retries'})`, {
      cause: error,
    });
  }
}

/**
 * `promise`, or the signal's reason once it aborts. No timer on the side: a probe always answers
 * (success, failure, or neutral; its request has its own deadline), or the run is being stopped.
 */
function untilAborted(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
