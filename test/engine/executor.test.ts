import { describe, expect, it } from 'vitest';
import { CircuitOpenError, HttpStatusError, InterruptedError, UnavailableError } from '../../src/errors.js';
import { CircuitBreaker } from '../../src/engine/circuit-breaker.js';
import { Executor, type RetryEvent } from '../../src/engine/executor.js';
import type { Limiter, Slot } from '../../src/engine/limiter.js';
import { RetryBudget } from '../../src/engine/retry-budget.js';
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

/** A limiter that grants at once and writes down what the executor asked of it. */
class RecordingLimiter implements Limiter {
  readonly windowMs = 1000;
  readonly calls: string[] = [];
  readonly slots: { departed: number; cancelled: number }[] = [];

  acquire(): Promise<Slot> {
    this.calls.push('acquire');
    return Promise.resolve(this.slot());
  }

  slot(): Slot {
    const seen = { departed: 0, cancelled: 0 };
    this.slots.push(seen);
    return { grantedAt: 0, notBefore: 0, depart: () => void seen.departed++, cancel: () => void seen.cancelled++ };
  }

  pauseUntil(time: number): void {
    this.calls.push(`pauseUntil ${time}`);
  }

  slowDown(): void {
    this.calls.push('slowDown');
  }

  recover(): void {
    this.calls.push('recover');
  }

  widenMargin(): number {
    this.calls.push('widenMargin');
    return 1025;
  }
}

describe('Executor with a breaker, a budget and a limiter', () => {
  const policy = (maxRetries = 3, more: { maxRateLimitRetries?: number } = {}) => new RetryPolicy({ maxRetries, random: () => 1, ...more });

  it('an open circuit fails at once: no slot taken, the held one given back, nothing sent', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RecordingLimiter();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, cooldownMs: 5000 });
    breaker.failure();
    const executor = new Executor({ clock, limiter, breaker, policy: policy() });
    const held = limiter.slot();
    let calls = 0;
    const run = executor.run(async () => ++calls, { slot: held });
    await expect(run).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(run).rejects.toMatchObject({ retryAt: 5000 });
    expect(calls).toBe(0);
    expect(limiter.calls).toEqual([]);
    expect(limiter.slots[0]).toEqual({ departed: 0, cancelled: 1 });
    expect(executor.stats.requests).toBe(0);
  });

  it('an open circuit is checked before waiting for a rate slot: an outage costs no slots', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RecordingLimiter();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, cooldownMs: 5000 });
    breaker.failure();
    const executor = new Executor({ clock, limiter, breaker, policy: policy() });
    await expect(executor.run(async () => 'sent')).rejects.toBeInstanceOf(CircuitOpenError);
    expect(limiter.calls).toEqual([]);
    expect(limiter.slots).toEqual([]);
  });

  it('without a limiter, a refusal by the half-open breaker is still a CircuitOpenError', async () => {
    const clock = new VirtualClock(0);
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, cooldownMs: 5000 });
    breaker.failure();
    clock.advance(5000);
    expect(breaker.allow()).toBe(true); // a probe is out
    const executor = new Executor({ clock, breaker, policy: policy() });
    await expect(executor.run(async () => 'sent')).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('half-open lets one probe through; a second attempt meanwhile gives its slot back and leaves the probe in charge', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RecordingLimiter();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, cooldownMs: 5000 });
    breaker.failure();
    clock.advance(5000);
    const executor = new Executor({ clock, limiter, breaker, policy: policy() });
    let finishProbe!: (value: string) => void;
    const probe = executor.run(() => new Promise<string>((resolve) => (finishProbe = resolve)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(breaker.state).toBe('half-open');
    let calls = 0;
    await expect(executor.run(async () => ++calls)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(calls).toBe(0);
    expect(limiter.slots[1]).toEqual({ departed: 0, cancelled: 1 });
    // Refused by the breaker is not news about the remote: the probe still decides.
    expect(breaker.state).toBe('half-open');
    finishProbe('ok');
    await expect(probe).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('only transient failures count towards opening the circuit; a 404 says the remote is alive', async () => {
    const clock = new VirtualClock(0);
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1 });
    const executor = new Executor({ clock, breaker, policy: policy(0) });
    await expect(executor.run(failing(new HttpStatusError(404, 'missing')).attempt)).rejects.toThrow('missing');
    expect(breaker.state).toBe('closed');
    await expect(executor.run(failing(new HttpStatusError(503, 'down')).attempt)).rejects.toThrow('down');
    expect(breaker.state).toBe('open');
  });

  it('the first attempt uses the slot it was handed; a retry takes a new one; every slot is marked gone', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RecordingLimiter();
    const executor = new Executor({ clock, limiter, policy: policy() });
    const held = limiter.slot();
    const seen: (Slot | undefined)[] = [];
    const { attempt } = failing(new HttpStatusError(503, 'x'));
    await expect(executor.run(async (n, slot) => (seen.push(slot), attempt()), { slot: held })).resolves.toBe('ok');
    expect(seen[0]).toBe(held);
    expect(seen[1]).not.toBe(held);
    expect(limiter.calls).toEqual(['acquire', 'recover']);
    expect(limiter.slots).toEqual([
      { departed: 1, cancelled: 0 },
      { departed: 1, cancelled: 0 },
    ]);
  });

  it('works with no limiter at all (pull without a rate), 429s and transient failures included', async () => {
    const clock = new VirtualClock(0);
    for (const slowDownOn429 of [true, false]) {
      const executor = new Executor({ clock, policy: policy(), slowDownOn429 });
      const { attempt, calls } = failing(new HttpStatusError(429, 'slow', '1'), new HttpStatusError(503, 'x'));
      await expect(executor.run(attempt)).resolves.toBe('ok');
      expect(calls()).toBe(3);
    }
  });

  it('a 429 pauses the limiter until Retry-After and either slows it or widens its margin', async () => {
    for (const [slowDownOn429, expected] of [
      [true, 'slowDown'],
      [false, 'widenMargin'],
    ] as const) {
      const clock = new VirtualClock(100);
      const limiter = new RecordingLimiter();
      const executor = new Executor({ clock, limiter, policy: policy(), slowDownOn429 });
      await expect(executor.run(failing(new HttpStatusError(429, 'slow', '2')).attempt)).resolves.toBe('ok');
      expect(limiter.calls).toEqual(['acquire', 'pauseUntil 2100', expected, 'acquire', 'recover']);
    }
  });

  it('first attempts fund the retry budget, retries spend it, and a spent budget ends the request saying why', async () => {
    const clock = new VirtualClock(0);
    // One token per first attempt and none in reserve: exactly one retry, funded by the first try.
    const budget = new RetryBudget({ ratio: 1, reserve: 0 });
    const executor = new Executor({ clock, budget, policy: policy() });
    const first = new HttpStatusError(503, 'HTTP 503');
    const second = new HttpStatusError(503, 'HTTP 503 again');
    const { attempt, calls } = failing(first, second);
    const run = executor.run(attempt);
    await expect(run).rejects.toBeInstanceOf(UnavailableError);
    await expect(run).rejects.toThrow('HTTP 503 again (retry budget spent: the downstream is failing too often to retry)');
    await expect(run).rejects.toMatchObject({ cause: second });
    expect(calls()).toBe(2);
    expect(budget.available).toBe(0);
  });

  it('429 retries do not spend the budget', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, budget: new RetryBudget({ ratio: 0, reserve: 0 }), policy: policy() });
    const { attempt, calls } = failing(new HttpStatusError(429, 'slow', '1'), new HttpStatusError(429, 'slow', '1'));
    await expect(executor.run(attempt)).resolves.toBe('ok');
    expect(calls()).toBe(3);
  });

  it('429s have their own cap, and giving up counts every retry of both kinds', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, policy: policy(3, { maxRateLimitRetries: 2 }) });
    const limited = failing(...Array.from({ length: 5 }, () => new HttpStatusError(429, 'slow', '1')));
    await expect(executor.run(limited.attempt)).rejects.toThrow('slow (gave up after 2 retries)');
    expect(limited.calls()).toBe(3);

    const last = new HttpStatusError(503, 'down');
    const mixed = failing(new HttpStatusError(429, 'slow', '1'), new HttpStatusError(503, 'down'), new HttpStatusError(503, 'down'), new HttpStatusError(503, 'down'), last);
    const run = executor.run(mixed.attempt);
    await expect(run).rejects.toThrow('down (gave up after 4 retries)');
    await expect(run).rejects.toMatchObject({ cause: last });
  });

  it('429 forever with Retry-After: 3600 waits the 60 s cap twice (2 min in all), then fails as unavailable saying how long it waited', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, policy: policy() });
    const { attempt, calls } = failing(...Array.from({ length: 20 }, () => new HttpStatusError(429, 'page 1: HTTP 429', '3600')));
    const run = executor.run(attempt);
    await expect(run).rejects.toBeInstanceOf(UnavailableError);
    await expect(run).rejects.toMatchObject({
      errorClass: 'server',
      message: 'page 1: HTTP 429 (rate-limited for 2 min in all, the most a request waits on 429s unless --retry-for allows more; gave up)',
    });
    expect(clock.sleeps).toEqual([60_000, 60_000]);
    expect(calls()).toBe(3);
    expect(clock.now()).toBe(120_000);
  });

  it('gives up before a 429 wait that would take the total past 2 min, rather than wait and then fail', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, policy: policy() });
    const { attempt, calls } = failing(...Array.from({ length: 20 }, () => new HttpStatusError(429, 'slow', '50')));
    await expect(executor.run(attempt)).rejects.toThrow('slow (rate-limited for 1 min 40 s in all, the most a request waits on 429s unless --retry-for allows more; gave up)');
    expect(clock.sleeps).toEqual([50_000, 50_000]);
    expect(calls()).toBe(3);
  });

  it('says "1 retry", not "1 retries"', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, policy: policy(1) });
    await expect(executor.run(failing(new HttpStatusError(503, 'x'), new HttpStatusError(503, 'x')).attempt)).rejects.toThrow('x (gave up after 1 retry)');
  });

  it('an abort while an attempt fails is an interruption, whatever the failure', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, policy: policy() });
    const controller = new AbortController();
    const run = executor.run(
      async () => {
        controller.abort(new Error('SIGINT'));
        throw new HttpStatusError(404, 'missing');
      },
      { signal: controller.signal },
    );
    await expect(run).rejects.toBeInstanceOf(InterruptedError);
  });

  it('an abort during the backoff ends the request without another attempt', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, policy: policy() });
    const controller = new AbortController();
    const { attempt, calls } = failing(new HttpStatusError(503, 'x'));
    const run = executor.run(attempt, { signal: controller.signal, onRetry: () => controller.abort(new Error('SIGINT')) });
    await expect(run).rejects.toBeInstanceOf(InterruptedError);
    expect(calls()).toBe(1);
  });
});

describe('Executor with --retry-for', () => {
  const policy = (retryForMs: number, more: { maxRetries?: number } = {}) => new RetryPolicy({ maxRetries: 3, random: () => 1, retryForMs, ...more });

  it('retries past --max-retries until --retry-for after the first failure: backoff doubles to 60 s, the last wait is cut to the deadline', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, policy: policy(300_000) });
    const { attempt, calls } = failing(...Array.from({ length: 100 }, () => new HttpStatusError(503, 'HTTP 503')));
    const run = executor.run(attempt);
    await expect(run).rejects.toBeInstanceOf(UnavailableError);
    await expect(run).rejects.toThrow('HTTP 503 (still failing 5 min after the first failure, all the time --retry-for allows; gave up after 10 retries)');
    expect(clock.sleeps).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 57_000]);
    expect(calls()).toBe(11);
    expect(clock.now()).toBe(300_000);
  });

  it('delivers once the remote recovers, however many retries that took', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, policy: policy(600_000, { maxRetries: 0 }) });
    const attempt = async () => {
      if (clock.now() < 300_000) throw new HttpStatusError(503, 'down');
      return 'ok';
    };
    await expect(executor.run(attempt)).resolves.toBe('ok');
    expect(executor.stats.retries).toBe(10);
  });

  it('429 waits count against it: Retry-After 60 s forever ends 10 min after the first 429 with --retry-for 10m', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, policy: policy(600_000) });
    const { attempt, calls } = failing(...Array.from({ length: 100 }, () => new HttpStatusError(429, 'slow', '60')));
    await expect(executor.run(attempt)).rejects.toThrow('slow (still failing 10 min after the first failure, all the time --retry-for allows; gave up after 10 retries)');
    expect(clock.sleeps).toEqual(Array.from({ length: 10 }, () => 60_000));
    expect(calls()).toBe(11);
  });

  it('a --retry-for shorter than 2 min never ends 429 waits sooner than a run without it', async () => {
    const clock = new VirtualClock(0);
    const executor = new Executor({ clock, policy: policy(30_000) });
    const { attempt } = failing(...Array.from({ length: 100 }, () => new HttpStatusError(429, 'slow', '3600')));
    await expect(executor.run(attempt)).rejects.toBeInstanceOf(UnavailableError);
    expect(clock.sleeps).toEqual([60_000, 60_000]);
  });

  it('a spent retry budget does not end the request (the rate limit, the breaker and the 60 s cap bound the load instead)', async () => {
    const clock = new VirtualClock(0);
    const budget = new RetryBudget({ ratio: 0, reserve: 0 });
    const executor = new Executor({ clock, budget, policy: policy(60_000) });
    const { attempt, calls } = failing(new HttpStatusError(503, 'x'), new HttpStatusError(503, 'x'), new HttpStatusError(503, 'x'));
    await expect(executor.run(attempt)).resolves.toBe('ok');
    expect(calls()).toBe(4);
  });

  it('an open breaker makes the request wait for its next probe instead of failing at once; the request is that probe', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RecordingLimiter();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, cooldownMs: 15_000 });
    breaker.failure();
    clock.advance(1000);
    const executor = new Executor({ clock, limiter, breaker, policy: policy(600_000) });
    const sentAt: number[] = [];
    await expect(executor.run(async () => (sentAt.push(clock.now()), 'sent'))).resolves.toBe('sent');
    // No slot taken while open; the wait ends when the cool-down does.
    expect(sentAt).toEqual([15_000]);
    expect(clock.sleeps).toEqual([14_000]);
    expect(limiter.calls).toEqual(['acquire', 'recover']);
    expect(breaker.state).toBe('closed');
  });

  it('while a probe is out, others wait for its answer, then go', async () => {
    const clock = new VirtualClock(0);
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, cooldownMs: 5000 });
    breaker.failure();
    clock.advance(5000);
    const executor = new Executor({ clock, breaker, policy: policy(600_000) });
    let finishProbe!: (value: string) => void;
    const probe = executor.run(() => new Promise<string>((resolve) => (finishProbe = resolve)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(breaker.probeOut).toBe(true);
    let calls = 0;
    const other = executor.run(async () => ++calls);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toBe(0);
    finishProbe('ok');
    await expect(probe).resolves.toBe('ok');
    await expect(other).resolves.toBe(1);
    // It waited on the probe's answer, not on a timer.
    expect(clock.now()).toBe(5000);
  });

  it('a probe that fails reopens the circuit: the waiting request waits for the next cool-down', async () => {
    const clock = new VirtualClock(0);
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, cooldownMs: 15_000 });
    const executor = new Executor({ clock, breaker, policy: policy(600_000) });
    // The remote is down for the first 40 s.
    const sentAt: number[] = [];
    const attempt = async () => {
      sentAt.push(clock.now());
      if (clock.now() < 40_000) throw new HttpStatusError(503, 'down');
      return 'ok';
    };
    await expect(executor.run(attempt)).resolves.toBe('ok');
    // Fails at 0 (opens), waits out its 1 s backoff and then the cool-down: probes at 15 s, 30 s, 45 s.
    expect(sentAt).toEqual([0, 15_000, 30_000, 45_000]);
  });

  it('does not wait for the breaker once the outage has outlasted --retry-for: fails as unavailable, saying so', async () => {
    const clock = new VirtualClock(0);
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, cooldownMs: 15_000 });
    breaker.failure();
    clock.advance(10_000);
    const executor = new Executor({ clock, breaker, policy: policy(5000) });
    expect(executor.breakerWaitUntil()).toBeUndefined();
    let calls = 0;
    const run = executor.run(async () => ++calls);
    await expect(run).rejects.toBeInstanceOf(UnavailableError);
    await expect(run).rejects.toThrow(/^downstream circuit open .*\(still failing 10 s after the first failure, all the time --retry-for allows; gave up after 0 retries\)$/);
    expect(calls).toBe(0);
    expect(clock.sleeps).toEqual([]);
  });

  it('breakerWaitUntil counts from the outage\'s first failure, and is undefined without --retry-for or while closed with no failure', () => {
    const clock = new VirtualClock(0);
    const breaker = new CircuitBreaker({ clock, failureThreshold: 2, cooldownMs: 15_000 });
    const waiting = new Executor({ clock, breaker, policy: policy(60_000) });
    const plain = new Executor({ clock, breaker, policy: new RetryPolicy({ maxRetries: 3, random: () => 1 }) });
    clock.advance(1000);
    breaker.failure();
    clock.advance(5000);
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.failingSince).toBe(1000);
    expect(waiting.breakerWaitUntil()).toBe(61_000);
    expect(plain.breakerWaitUntil()).toBeUndefined();
    breaker.success();
    expect(breaker.failingSince).toBeUndefined();
  });
});
