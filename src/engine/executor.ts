import { InterruptedError, UnavailableError, toSyncError, type SyncError } from '../errors.js';
import type { Clock } from './clock.js';
import type { RateLimiter } from './rate-limiter.js';
import type { RetryKind, RetryPolicy } from './retry-policy.js';

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
  limiter?: RateLimiter;
}

export interface RunOptions {
  signal?: AbortSignal;
  onRetry?: (event: RetryEvent) => void;
}

/**
 * The one retry loop of the tool. Each attempt waits for a rate slot, failures go to the retry
 * policy, 429s pause and slow the shared limiter so every request to that remote backs off.
 * Attempts must throw SyncErrors (see `http/errors.ts`); anything else is unexpected.
 */
export class Executor {
  readonly stats: ExecutorStats = { requests: 0, retries: 0, rateLimited: 0 };
  private readonly options: ExecutorOptions;

  constructor(options: ExecutorOptions) {
    this.options = options;
  }

  async run<T>(attempt: (n: number) => Promise<T>, { signal, onRetry }: RunOptions = {}): Promise<T> {
    const { policy, clock, limiter } = this.options;
    const counts = { transient: 0, rateLimited: 0 };
    for (let n = 1; ; n++) {
      try {
        await limiter?.acquire(signal);
        this.stats.requests += 1;
        const result = await attempt(n);
        limiter?.recover();
        return result;
      } catch (caught) {
        if (signal?.aborted) throw new InterruptedError();
        const error = toSyncError(caught);
        const now = clock.now();
        const verdict = policy.decide(error, counts, now);
        if (verdict.action === 'give-up') {
          if (verdict.reason === 'not-retryable') throw error;
          const tries = counts.transient + counts.rateLimited;
          throw new UnavailableError(`${error.message} (gave up after ${tries} ${tries === 1 ? 'retry' : 'retries'})`, {
            cause: error,
          });
        }
        if (verdict.kind === 'rate-limited') {
          counts.rateLimited += 1;
          this.stats.rateLimited += 1;
          limiter?.pauseUntil(now + verdict.delayMs);
          limiter?.slowDown();
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
}
