import { describe, expect, it } from 'vitest';
import { HttpStatusError, NetworkError, UnexpectedResponseError } from '../../src/errors.js';
import { backoffDelay, isTransient, parseRetryAfter, quotaWaitMs, retryScheduleMs, RetryPolicy } from '../../src/engine/retry-policy.js';

const NOW = Date.parse('2026-01-20T15:30:00.000Z');
const none = { transient: 0, rateLimited: 0 };

describe('backoffDelay', () => {
  it('doubles from 1 s with full jitter: the ceiling is 1 s, 2 s, 4 s', () => {
    expect([1, 2, 3].map((n) => backoffDelay(n, () => 1))).toEqual([1000, 2000, 4000]);
    expect([1, 2, 3].map((n) => backoffDelay(n, () => 0.5))).toEqual([500, 1000, 2000]);
    expect(backoffDelay(1, () => 0)).toBe(0);
  });

  it('is capped', () => {
    expect(backoffDelay(20, () => 1, 1000, 30_000)).toBe(30_000);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('2', NOW)).toBe(2000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
  });

  it('reads an HTTP date relative to now', () => {
    expect(parseRetryAfter('Tue, 20 Jan 2026 15:30:03 GMT', NOW)).toBe(3000);
  });

  it('treats a past date as now', () => {
    expect(parseRetryAfter('Tue, 20 Jan 2026 15:29:00 GMT', NOW)).toBe(0);
  });

  it('falls back to the default when absent or unparseable', () => {
    expect(parseRetryAfter(undefined, NOW)).toBe(1000);
    expect(parseRetryAfter('', NOW)).toBe(1000);
    expect(parseRetryAfter('soon', NOW)).toBe(1000);
    expect(parseRetryAfter('-5', NOW)).toBe(1000);
    // Digits followed by words are neither delta-seconds nor a date.
    expect(parseRetryAfter('5 seconds', NOW)).toBe(1000);
    expect(parseRetryAfter('soon', NOW, { defaultMs: 2500 })).toBe(2500);
  });

  it('caps a hostile value', () => {
    expect(parseRetryAfter('3600', NOW)).toBe(60_000);
    expect(parseRetryAfter('3600', NOW, { maxMs: 5000 })).toBe(5000);
  });
});

describe('RetryPolicy.decide', () => {
  const policy = new RetryPolicy({ maxRetries: 3, random: () => 1 });

  it.each([500, 502, 503, 504])('retries HTTP %i with backoff', (status) => {
    expect(policy.decide(new HttpStatusError(status, 'x'), none, NOW)).toEqual({ action: 'retry', kind: 'transient', delayMs: 1000 });
  });

  it.each([400, 401, 403, 404, 501])('never retries HTTP %i', (status) => {
    expect(policy.decide(new HttpStatusError(status, 'x'), none, NOW)).toEqual({ action: 'give-up', reason: 'not-retryable' });
  });

  it('retries resets and timeouts, not DNS failures', () => {
    expect(policy.decide(new NetworkError('ECONNRESET', 'x'), none, NOW).action).toBe('retry');
    expect(policy.decide(new NetworkError('ETIMEDOUT', 'x'), none, NOW).action).toBe('retry');
    expect(policy.decide(new NetworkError('ENOTFOUND', 'x', { retryable: false }), none, NOW).action).toBe('give-up');
  });

  it('does not retry a response of the wrong shape', () => {
    expect(policy.decide(new UnexpectedResponseError('x'), none, NOW).action).toBe('give-up');
  });

  it('gives up once the transient budget is spent, with the delays growing until then', () => {
    const error = new HttpStatusError(503, 'x');
    const delays = [0, 1, 2].map((transient) => policy.decide(error, { transient, rateLimited: 0 }, NOW));
    expect(delays.map((v) => (v.action === 'retry' ? v.delayMs : -1))).toEqual([1000, 2000, 4000]);
    expect(policy.decide(error, { transient: 3, rateLimited: 0 }, NOW)).toEqual({ action: 'give-up', reason: 'exhausted' });
  });

  it('keeps 429s on their own, larger budget and waits Retry-After', () => {
    const limited = new HttpStatusError(429, 'x', '2');
    expect(policy.decide(limited, { transient: 3, rateLimited: 0 }, NOW)).toEqual({
      action: 'retry',
      kind: 'rate-limited',
      delayMs: 2000,
    });
    expect(policy.maxRateLimitRetries).toBe(10);
    expect(policy.decide(limited, { transient: 0, rateLimited: 10 }, NOW)).toEqual({ action: 'give-up', reason: 'exhausted' });
  });

  it('uses its own default and cap for Retry-After', () => {
    const own = new RetryPolicy({ maxRetries: 3, random: () => 1, defaultRetryAfterMs: 5000, maxRetryAfterMs: 10_000 });
    expect(own.decide(new HttpStatusError(429, 'x'), none, NOW)).toEqual({ action: 'retry', kind: 'rate-limited', delayMs: 5000 });
    expect(own.decide(new HttpStatusError(429, 'x', '3600'), none, NOW)).toEqual({ action: 'retry', kind: 'rate-limited', delayMs: 10_000 });
  });

  it('bounds the 429 waits of one request: 2 min in all by default, given up before the wait that would cross it', () => {
    const limited = new HttpStatusError(429, 'x', '3600');
    expect(policy.decide(limited, { transient: 0, rateLimited: 1, rateLimitedMs: 60_000 }, NOW)).toEqual({ action: 'retry', kind: 'rate-limited', delayMs: 60_000 });
    expect(policy.decide(limited, { transient: 0, rateLimited: 2, rateLimitedMs: 120_000 }, NOW)).toEqual({
      action: 'give-up',
      reason: 'rate-limited-too-long',
      waitedMs: 120_000,
      limitMs: 120_000,
    });
    expect(policy.decide(new HttpStatusError(429, 'x', '21'), { transient: 0, rateLimited: 1, rateLimitedMs: 100_000 }, NOW)).toMatchObject({ reason: 'rate-limited-too-long' });
    expect(policy.decide(new HttpStatusError(429, 'x', '20'), { transient: 0, rateLimited: 1, rateLimitedMs: 100_000 }, NOW)).toMatchObject({ action: 'retry', delayMs: 20_000 });
    const own = new RetryPolicy({ maxRetries: 3, random: () => 1, maxRateLimitWaitMs: 5000 });
    expect(own.decide(new HttpStatusError(429, 'x', '6'), none, NOW)).toEqual({ action: 'give-up', reason: 'rate-limited-too-long', waitedMs: 0, limitMs: 5000 });
  });

  it('allows at least ten 429 retries, more if the transient allowance is larger', () => {
    expect(new RetryPolicy({ maxRetries: 12, random: () => 1 }).maxRateLimitRetries).toBe(12);
    expect(new RetryPolicy({ maxRetries: 3, maxRateLimitRetries: 2, random: () => 1 }).maxRateLimitRetries).toBe(2);
  });
});

describe('RetryPolicy.decide with --retry-for', () => {
  const policy = new RetryPolicy({ maxRetries: 3, random: () => 1, retryForMs: 600_000 });
  const at = (firstFailureAt: number, transient = 0) => ({ transient, rateLimited: 0, firstFailureAt });

  it('ignores --max-retries, doubles the backoff up to 60 s, and cuts the last wait to the deadline', () => {
    const error = new HttpStatusError(503, 'x');
    expect(policy.decide(error, at(NOW, 3), NOW)).toEqual({ action: 'retry', kind: 'transient', delayMs: 8000 });
    expect(policy.decide(error, at(NOW, 40), NOW)).toEqual({ action: 'retry', kind: 'transient', delayMs: 60_000 });
    expect(policy.decide(error, at(NOW, 40), NOW + 590_000)).toEqual({ action: 'retry', kind: 'transient', delayMs: 10_000 });
    expect(policy.decide(error, at(NOW, 40), NOW + 600_000)).toEqual({ action: 'give-up', reason: 'out-of-time', failingForMs: 600_000, limitMs: 600_000 });
    // Without a first failure yet, it starts now.
    expect(policy.decide(error, { transient: 0, rateLimited: 0 }, NOW)).toEqual({ action: 'retry', kind: 'transient', delayMs: 1000 });
  });

  it('counts 429 waits against the same deadline, and gives up before a wait that would pass it', () => {
    const limited = new HttpStatusError(429, 'x', '60');
    expect(policy.decide(limited, { ...at(NOW), rateLimited: 50 }, NOW + 540_000)).toEqual({ action: 'retry', kind: 'rate-limited', delayMs: 60_000 });
    expect(policy.decide(limited, at(NOW), NOW + 540_001)).toEqual({ action: 'give-up', reason: 'out-of-time', failingForMs: 540_001, limitMs: 600_000 });
    // A --retry-for shorter than the 2 min 429 allowance does not shorten it.
    const short = new RetryPolicy({ maxRetries: 3, random: () => 1, retryForMs: 30_000 });
    expect(short.decide(limited, at(NOW), NOW + 60_000)).toEqual({ action: 'retry', kind: 'rate-limited', delayMs: 60_000 });
    expect(short.decide(limited, at(NOW), NOW + 60_001)).toMatchObject({ action: 'give-up', reason: 'out-of-time', limitMs: 120_000 });
  });

  it('still never retries what cannot succeed', () => {
    expect(policy.decide(new HttpStatusError(404, 'x'), at(NOW), NOW)).toEqual({ action: 'give-up', reason: 'not-retryable' });
  });
});

describe('isTransient', () => {
  it('is a strict yes or no: 5xx from the list and retryable network errors only', () => {
    expect(isTransient(new HttpStatusError(503, 'x'))).toBe(true);
    expect(isTransient(new HttpStatusError(501, 'x'))).toBe(false);
    expect(isTransient(new NetworkError('ECONNRESET', 'x'))).toBe(true);
    expect(isTransient(new NetworkError('ENOTFOUND', 'x', { retryable: false }))).toBe(false);
    expect(isTransient(new UnexpectedResponseError('x'))).toBe(false);
  });
});

describe('quotaWaitMs', () => {
  it('waits for a lost shared quota as long as a request is retried: the backoff schedule, or --retry-for', () => {
    expect(quotaWaitMs(3, undefined)).toBe(7000);
    expect(quotaWaitMs(3, 1_800_000)).toBe(1_800_000);
  });
});

describe('retryScheduleMs', () => {
  it('is the sum of the backoff ceilings: how long a request can spend between its attempts', () => {
    expect(retryScheduleMs(0)).toBe(0);
    expect(retryScheduleMs(1)).toBe(1000);
    expect(retryScheduleMs(3)).toBe(7000);
    // Capped per retry: 1 + 2 + 4 + 8 + 8 + 8 seconds.
    expect(retryScheduleMs(6, 1000, 8000)).toBe(31_000);
    expect(retryScheduleMs(2, 500)).toBe(1500);
  });
});
