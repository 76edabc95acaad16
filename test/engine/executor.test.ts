import { describe, expect, it } from 'vitest';
import { HttpStatusError, InterruptedError, UnavailableError } from '../../src/errors.js';
import { Executor, type RetryEvent } from '../../src/engine/executor.js';
import { CATCH_UP, RateLimiter, WIDEN_STEP_MS } from '../../src/engine/rate-limiter.js';
import { RetryPolicy } from '../../src/engine/retry-policy.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

function setup(maxRetries = 3) {
  const clock = new VirtualClock(0);
  const limiter = new RateLimiter({ limit: 10, clock });
  const executor = new Executor({ clock, limiter, policy: new RetryPolicy({ maxRetries, random: () => 1 }) });
  return { clock, limiter, executor };
}

/** An attempt function that fails with the given errors, in order, then returns 'ok'. */
function failing(...errors: Error[]) {
  let calls = 0;
  const attempt = async (): Promise<string> => {
    const error = errors[calls++];
    if (error) throw error;
    return 'ok';
  };
  return { attempt, calls: () => calls };
}

describe('Executor', () => {
  it('retries transient failures after 1 s then 2 s and returns the result', async () => {
    const { clock, executor } = setup();
    const { attempt, calls } = failing(new HttpStatusError(500, 'a'), new HttpStatusError(503, 'b'));
    await expect(executor.run(attempt)).resolves.toBe('ok');
    expect(calls()).toBe(3);
    expect(clock.sleeps).toEqual([1000, 2000]);
    expect(executor.stats).toEqual({ requests: 3, retries: 2, rateLimited: 0 });
  });

  it('gives up after 3 retries (1 s, 2 s, 4 s) with an UnavailableError that says so', async () => {
    const { clock, executor } = setup();
    const events: RetryEvent[] = [];
    const { attempt, calls } = failing(...Array.from({ length: 5 }, () => new HttpStatusError(503, 'page 2: HTTP 503')));
    const run = executor.run(attempt, { onRetry: (event) => events.push(event) });
    await expect(run).rejects.toBeInstanceOf(UnavailableError);
    await expect(run).rejects.toThrow('page 2: HTTP 503 (gave up after 3 retries)');
    expect(calls()).toBe(4);
    expect(clock.sleeps).toEqual([1000, 2000, 4000]);
    expect(events.map((e) => [e.attempt, e.delayMs, e.retryAt])).toEqual([
      [1, 1000, 1000],
      [2, 2000, 3000],
      [3, 4000, 7000],
    ]);
  });

  it('throws a non-retryable error at once', async () => {
    const { clock, executor } = setup();
    const { attempt, calls } = failing(new HttpStatusError(404, 'missing'));
    await expect(executor.run(attempt)).rejects.toThrow('missing');
    expect(calls()).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('on 429 waits Retry-After, pauses and slows the shared limiter, and does not spend the 5xx budget', async () => {
    const { clock, limiter, executor } = setup(1);
    const { attempt } = failing(
      new HttpStatusError(429, 'slow down', '3'),
      new HttpStatusError(429, 'slow down', '3'),
      new HttpStatusError(500, 'oops'),
    );
    let otherGrantedAt = -1;
    const run = executor.run(attempt);
    // Another request to the same source, queued right after the 429: it must wait out the pause too.
    await new Promise((resolve) => setImmediate(resolve));
    const other = limiter.acquire().then(() => (otherGrantedAt = clock.now()));
    await expect(run).resolves.toBe('ok');
    await other;
    expect(clock.sleeps.slice(0, 2)).toEqual([3000, 3000]);
    expect(otherGrantedAt).toBeGreaterThanOrEqual(3000);
    expect(executor.stats).toEqual({ requests: 4, retries: 3, rateLimited: 2 });
  });

  it('stops waiting when the signal aborts and reports the interruption', async () => {
    const { executor } = setup();
    const controller = new AbortController();
    const run = executor.run(
      async () => {
        controller.abort(new Error('SIGINT'));
        throw new HttpStatusError(503, 'x');
      },
      { signal: controller.signal },
    );
    await expect(run).rejects.toBeInstanceOf(InterruptedError);
  });

  it('on 429 from a platform whose limit is known: pauses and widens the window margin instead of halving', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 50, smooth: true });
    const executor = new Executor({ clock, limiter, slowDownOn429: false, policy: new RetryPolicy({ maxRetries: 3, random: () => 1 }) });
    const { attempt } = failing(new HttpStatusError(429, 'slow down', '1'));
    await expect(executor.run(attempt)).resolves.toBe('ok');
    expect(limiter.currentLimit).toBe(5);
    expect(limiter.windowMs).toBe(1050 + WIDEN_STEP_MS);
  });

  it('hands the attempt its slot and counts the slot as gone when the attempt did not say so', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { smooth: true });
    const executor = new Executor({ clock, limiter, policy: new RetryPolicy({ maxRetries: 0, random: () => 1 }) });
    const seen: (number | undefined)[] = [];
    await executor.run(async (_n, slot) => {
      seen.push(slot?.grantedAt);
      await clock.sleep(300); // never calls slot.depart(): counted as leaving when it settles
      return 'ok';
    });
    await executor.run(async (_n, slot) => (seen.push(slot?.grantedAt), 'ok'));
    // CATCH_UP of a spacing after the moment it settled (300 ms), not on the 200 ms plan.
    expect(seen).toEqual([0, 300 + 200 * CATCH_UP]);
  });
});
