import { HttpStatusError, NetworkError, RateLimitedError, type SyncError } from '../errors.js';
import type { Random } from './random.js';

/**
 * What is worth retrying, and how long to wait. Pure functions and one small class with no I/O:
 * the executor applies them, tests assert them directly.
 */

/** Transient HTTP answers: the same request may well succeed a moment later. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([500, 502, 503, 504]);

export interface RetryPolicyOptions {
  /** Retries allowed for transient failures (5xx, timeouts, resets). */
  maxRetries: number;
  /** Separate, larger allowance for 429s: being told to slow down is not a failure. */
  maxRateLimitRetries?: number;
  /** First backoff ceiling; doubles each retry (1 s, 2 s, 4 s, …). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Wait after a 429 that carries no usable Retry-After. */
  defaultRetryAfterMs?: number;
  /** A hostile or broken Retry-After (say 3600) must not park a cron job for an hour. */
  maxRetryAfterMs?: number;
  /**
   * The most one request waits on 429s in all (the sum of its Retry-After waits): past it, the
   * request fails as unavailable. Without it the cap above still let 10 retries park a run for 10
   * minutes. Default RATE_LIMIT_WAIT_MS.
   */
  maxRateLimitWaitMs?: number;
  /**
   * `--retry-for`: instead of `maxRetries`, keep retrying a request until this long after its
   * first failure (backoff capped at RETRY_FOR_MAX_DELAY_MS; 429 waits count against it, and it
   * never ends 429 waits sooner than `maxRateLimitWaitMs` would).
   */
  retryForMs?: number;
  /** Jitter source in [0, 1]; inject a constant in tests to get exact delays. */
  random: Random;
}

export type RetryKind = 'transient' | 'rate-limited';

export type Verdict =
  | { action: 'retry'; kind: RetryKind; delayMs: number }
  | { action: 'give-up'; reason: 'not-retryable' | 'exhausted' }
  /** Waiting once more on a 429 would take the request's 429 waits past `limitMs`. */
  | { action: 'give-up'; reason: 'rate-limited-too-long'; waitedMs: number; limitMs: number }
  /** --retry-for: the request has been failing for `limitMs` since its first failure. */
  | { action: 'give-up'; reason: 'out-of-time'; failingForMs: number; limitMs: number };

/** How many retries of each kind a request has used so far. */
export interface RetryCounts {
  transient: number;
  rateLimited: number;
  /** The 429 waits so far, summed (ms). */
  rateLimitedMs?: number;
  /** Epoch ms of the request's first failure: --retry-for counts from it. */
  firstFailureAt?: number;
}

/** With --retry-for, backoff keeps doubling up to this: a long outage is probed once a minute at most per request. */
export const RETRY_FOR_MAX_DELAY_MS = 60_000;
/** The longest one 429 is waited for, whatever the remote says: a hostile `Retry-After: 3600` must not park a run. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Two minutes of 429s per request, then it fails. Two waits at the 60 s cap: enough for a
 * platform that counts per minute to let us back in (its window turns over once, with room to
 * spare), and well inside a 5-minute cron interval, so a hostile `Retry-After` cannot make one
 * run overlap the next. A longer outage is what `--retry-for` is for.
 */
export const RATE_LIMIT_WAIT_MS = 120_000;

/** Full jitter: uniform in [0, min(cap, base·2^(n−1))], which spreads a herd of clients apart. */
/**
 * The longest a request can spend waiting between its attempts: the sum of the backoff ceilings
 * (1 s + 2 s + 4 s for 3 retries). A run waits this long for a lost shared quota before giving up.
 */
export function retryScheduleMs(maxRetries: number, baseDelayMs = 1000, maxDelayMs = 30_000): number {
  let total = 0;
  for (let retry = 1; retry <= maxRetries; retry++) total += Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1));
  return total;
}

/**
 * How long a run waits for a lost shared quota (Redis) before a request fails: as long as a
 * failing request is retried, so `--retry-for` rides out a Redis outage as it does a remote's.
 */
export function quotaWaitMs(maxRetries: number, retryForMs: number | undefined): number {
  return retryForMs ?? retryScheduleMs(maxRetries);
}

export function backoffDelay(retry: number, random: Random, baseDelayMs = 1000, maxDelayMs = 30_000): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1));
  return Math.round(random() * ceiling);
}

/**
 * Retry-After as milliseconds from `now`: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
 * Absent or unparseable → the default; in the past → 0; always capped.
 */
export function parseRetryAfter(
  value: string | undefined,
  now: number,
  { defaultMs = 1000, maxMs = MAX_RETRY_AFTER_MS }: { defaultMs?: number; maxMs?: number } = {},
): number {
  const text = value?.trim();
  let ms = defaultMs;
  // Stryker disable next-line ConditionalExpression: without the check, '' and undefined still end at the default (no digits; Date.parse gives NaN)
  if (text) {
    if (/^\d+$/.test(text)) ms = Number(text) * 1000;
    else if (/[a-z]/i.test(text)) {
      // Every HTTP-date form names a month; this keeps Date.parse from reading '-5' as a year.
      const date = Date.parse(text);
      if (!Number.isNaN(date)) ms = Math.max(0, date - now);
    }
  }
  return Math.min(ms, maxMs);
}

export function isTransient(error: SyncError): boolean {
  if (error instanceof HttpStatusError) return RETRYABLE_STATUSES.has(error.status);
  if (error instanceof NetworkError) return error.retryable;
  return false;
}

export function isRateLimited(error: SyncError): error is HttpStatusError {
  return error instanceof HttpStatusError && error.status === 429;
}

export class RetryPolicy {
  readonly maxRetries: number;
  readonly maxRateLimitRetries: number;
  /** --retry-for (ms), or undefined: retries are counted by `maxRetries`. */
  readonly retryForMs: number | undefined;
  private readonly options: RetryPolicyOptions;
  private readonly rateLimitWaitMs: number;

  constructor(options: RetryPolicyOptions) {
    this.options = options;
    this.maxRetries = options.maxRetries;
    this.maxRateLimitRetries = options.maxRateLimitRetries ?? Math.max(10, options.maxRetries);
    this.retryForMs = options.retryForMs;
    this.rateLimitWaitMs = options.maxRateLimitWaitMs ?? RATE_LIMIT_WAIT_MS;
  }

  decide(error: SyncError, counts: RetryCounts, now: number): Verdict {
    if (isRateLimited(error)) return this.decideRateLimited(error, counts, now);
    if (!isTransient(error)) return { action: 'give-up', reason: 'not-retryable' };
    const { baseDelayMs, random } = this.options;
    if (this.retryForMs !== undefined) {
      const first = counts.firstFailureAt ?? now;
      const deadline = first + this.retryForMs;
      if (now >= deadline) return { action: 'give-up', reason: 'out-of-time', failingForMs: now - first, limitMs: this.retryForMs };
      // The last wait is cut short so that one attempt goes out at the deadline itself.
      const backoff = backoffDelay(counts.transient + 1, random, baseDelayMs, this.options.maxDelayMs ?? RETRY_FOR_MAX_DELAY_MS);
      return { action: 'retry', kind: 'transient', delayMs: Math.min(backoff, deadline - now) };
    }
    if (counts.transient >= this.maxRetries) return { action: 'give-up', reason: 'exhausted' };
    return { action: 'retry', kind: 'transient', delayMs: backoffDelay(counts.transient + 1, random, baseDelayMs, this.options.maxDelayMs) };
  }

  /**
   * Given up before the wait that would cross the limit, not after it: retrying before Retry-After
   * is over would only earn another 429, and waiting just to fail wastes the run.
   */
  private decideRateLimited(error: HttpStatusError, counts: RetryCounts, now: number): Verdict {
    // A platform that says how long in its own way (a header of its own, its body) has had it read
    // by its destination; otherwise Retry-After, as RFC 9110 has it.
    const said = error instanceof RateLimitedError ? error.retryAfterMs : undefined;
    const delayMs =
      said !== undefined
        ? Math.min(Math.max(0, said), this.options.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS)
        : parseRetryAfter(error.retryAfter, now, { defaultMs: this.options.defaultRetryAfterMs, maxMs: this.options.maxRetryAfterMs });
    if (this.retryForMs !== undefined) {
      // 429 waits use up --retry-for like any other; a short --retry-for never ends them sooner
      // than a run without it would.
      const first = counts.firstFailureAt ?? now;
      const limitMs = Math.max(this.retryForMs, this.rateLimitWaitMs);
      if (now + delayMs > first + limitMs) return { action: 'give-up', reason: 'out-of-time', failingForMs: now - first, limitMs };
      return { action: 'retry', kind: 'rate-limited', delayMs };
    }
    if (counts.rateLimited >= this.maxRateLimitRetries) return { action: 'give-up', reason: 'exhausted' };
    const waitedMs = counts.rateLimitedMs ?? 0;
    if (waitedMs + delayMs > this.rateLimitWaitMs) return { action: 'give-up', reason: 'rate-limited-too-long', waitedMs, limitMs: this.rateLimitWaitMs };
    return { action: 'retry', kind: 'rate-limited', delayMs };
  }
}
