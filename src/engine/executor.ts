import { CircuitOpenError, InterruptedError, UnavailableError, toSyncError, type SyncError } from '../errors.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import type { Clock } from './clock.js';
import type { Limiter, Slot } from './limiter.js';
import type { RetryBudget } from './retry-budget.js';
import { formatDuration } from './duration.js';
import { isTransient, type RetryCounts, type RetryKind, type RetryPolicy } from './retry-policy.js';

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

  async run<T>(attempt: Attempt<T>, { signal, onRetry, slot: held }: RunOptions = {}): Promise<T> {
    const { policy, clock, limiter, budget, breaker } = this.options;
    const counts: Required<RetryCounts> = { transient: 0, rateLimited: 0, rateLimitedMs: 0 };
    for (let n = 1; ; n++) {
      try {
        let slot = n === 1 ? held : undefined;
        // Checked before and after the slot wait: an open circuit should not cost a rate slot.
        if (breaker?.state === 'open') {
          slot?.cancel();
          throw new CircuitOpenError(breaker.reopensAt);
        }
        slot ??= await limiter?.acquire(signal);
        if (breaker && !breaker.allow()) {
          slot?.cancel();
          throw new CircuitOpenError(breaker.reopensAt);
        }
        this.stats.requests += 1;
        if (n === 1) budget?.deposit();
        let result: T;
        try {
          result = await attempt(n, slot);
        } finally {
          // An attempt that never said when it left is counted as leaving now: later than it can
          // really have left, so the window errs on the safe side.
          slot?.depart();
        }
        breaker?.success();
        limiter?.recover();
        return result;
      } catch (caught) {
        if (signal?.aborted) throw new InterruptedError();
        const error = toSyncError(caught);
        if (error instanceof CircuitOpenError) throw error;
        if (isTransient(error)) breaker?.failure();
        else breaker?.neutral();

        const now = clock.now();
        const verdict = policy.decide(error, counts, now);
        if (verdict.action === 'give-up') {
          if (verdict.reason === 'not-retryable') throw error;
          if (verdict.reason === 'rate-limited-too-long') {
            throw new UnavailableError(`${error.message} (rate-limited for ${formatDuration(verdict.waitedMs)} in all, the most a request waits on 429s unless --retry-for allows more; gave up)`, {
              cause: error,
            });
          }
          throw this.exhausted(error, counts.transient + counts.rateLimited);
        }
        // Being told to slow down is cooperation, not a failure: 429 retries do not spend the budget.
        if (verdict.kind === 'transient' && budget && !budget.withdraw()) {
          throw new UnavailableError(`${error.message} (retry budget spent: the downstream is failing too often to retry)`, {
            cause: error,
          });
        }
        if (verdict.kind === 'rate-limited') {
          counts.rateLimited += 1;
          counts.rateLimitedMs += verdict.delayMs;
          this.stats.rateLimited += 1;
          limiter?.pauseUntil(now + verdict.delayMs);
          if (this.options.slowDownOn429 ?? true) limiter?.slowDown();
          else limiter?.widenMargin();
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

  private exhausted(error: SyncError, tries: number): UnavailableError {
    return new UnavailableError(`${error.message} (gave up after ${tries} ${tries === 1 ? 'retry' : 'retries'})`, {
      cause: error,
    });
  }
}
