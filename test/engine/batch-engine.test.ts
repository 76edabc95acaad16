import { describe, expect, it, vi } from 'vitest';
import { AuthError, DataRefusedError, HttpStatusError, NetworkError, RateLimitedError, RefusedError } from '../../src/errors.js';
import { ConcurrencyGate } from '../../src/engine/concurrency-gate.js';
import { BatchEngine, type DeliveryOutcome, type ItemResult, type SendBatch } from '../../src/engine/batch-engine.js';
import { CircuitBreaker } from '../../src/engine/circuit-breaker.js';
import { Executor } from '../../src/engine/executor.js';
import type { Limiter } from '../../src/engine/limiter.js';
import { seededRandom } from '../../src/engine/random.js';
import { RateLimiter } from '../../src/engine/rate-limiter.js';
import { RetryBudget } from '../../src/engine/retry-budget.js';
import { RetryPolicy } from '../../src/engine/retry-policy.js';
import { VirtualClock } from '../helpers/virtual-clock.js';
import { maxInAnyWindow } from '../helpers/windows.js';

interface Item {
  email: string;
  version?: number;
}

interface Call {
  batchId: string;
  emails: string[];
  versions: (number | undefined)[];
  at: number;
}

type Behaviour = (items: readonly Item[], call: number, clock: VirtualClock, signal?: AbortSignal) => Promise<ItemResult[]> | ItemResult[];

const acceptAll: Behaviour = (items) => items.map(() => ({ status: 'accepted' }));

function setup({
  rate = 5,
  batchSize = 3,
  maxRetries = 3,
  behaviour = acceptAll,
  breaker,
  budget,
  retryForMs,
  refusalHoldMs,
}: {
  rate?: number;
  batchSize?: number;
  maxRetries?: number;
  behaviour?: Behaviour;
  breaker?: { failureThreshold: number; cooldownMs: number };
  budget?: RetryBudget;
  retryForMs?: number;
  refusalHoldMs?: number;
} = {}) {
  const clock = new VirtualClock(0);
  const limiter = RateLimiter.perSecond(rate, clock);
  const circuit = new CircuitBreaker({ clock, failureThreshold: breaker?.failureThreshold ?? 1_000_000, cooldownMs: breaker?.cooldownMs });
  const executor = new Executor({
    clock,
    limiter,
    breaker: circuit,
    budget,
    slowDownOn429: false,
    policy: new RetryPolicy({ maxRetries, retryForMs, random: () => 1 }),
  });
  const calls: Call[] = [];
  let ids = 0;
  const engine = new BatchEngine<Item>({
    executor,
    limiter,
    breaker: circuit,
    batchSize,
    key: (item) => item.email,
    newBatchId: () => `b-${++ids}`,
    now: () => clock.now(),
    refusalHoldMs,
    send: async (batchId, items, signal, hooks) => {
      // Leaves at once, as the real transport reports it: the window follows this moment.
      hooks?.departed?.();
      calls.push({ batchId, emails: items.map((i) => i.email), versions: items.map((i) => i.version), at: clock.now() });
      return behaviour(items, calls.length, clock, signal);
    },
  });
  const submitAll = (emails: string[]): Promise<DeliveryOutcome[]> => Promise.all(emails.map((email) => engine.submit({ email })));
  return { clock, engine, calls, executor, breaker: circuit, submitAll };
}

const emails = (n: number, prefix = 'u'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}@example.com`);

/** What an engine wired by hand shares with every other (for tests that need options setup() does not give). */
const wired = (clock: VirtualClock, limiter: Limiter, maxRetries = 0) => ({
  executor: new Executor({ clock, limiter, policy: new RetryPolicy({ maxRetries, random: () => 1 }) }),
  limiter,
  key: (item: Item) => item.email,
});


describe('BatchEngine', () => {
  it('forms a batch when a slot opens, from whatever is queued, up to the batch size', async () => {
    const { calls, submitAll } = setup({ batchSize: 3 });
    const outcomes = await submitAll(emails(7));
    expect(calls.map((c) => [c.emails.length, c.at])).toEqual([
      [3, 0],
      [3, 0],
      [1, 0],
    ]);
    expect(outcomes.every((o) => o.status === 'delivered')).toBe(true);
  });

  it('sends a lone item at once: no linger timer, no waiting for a full batch', async () => {
    const { calls, engine, clock } = setup({ batchSize: 500 });
    const outcome = await engine.submit({ email: 'solo@example.com' });
    expect(outcome).toEqual({ status: 'delivered', batchId: 'b-1' });
    expect(calls).toHaveLength(1);
    expect(clock.now()).toBe(0);
  });

  it('with autoStart off, holds sending until start() so the first slot takes a full batch', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock);
    const sizes: number[] = [];
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter, 0),
      batchSize: 4,
      autoStart: false,
      send: async (_id, items) => {
        sizes.push(items.length);
        return items.map(() => ({ status: 'accepted' as const }));
      },
    });
    const first = engine.submit({ email: 'a@example.com' });
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(sizes).toEqual([]);
    const rest = ['b', 'c', 'd', 'e'].map((x) => engine.submit({ email: `${x}@example.com` }));
    engine.start();
    await Promise.all([first, ...rest]);
    expect(sizes).toEqual([4, 1]);
  });

  it('forms no batch while catchUp says the caller is behind, and goes on once it has caught up', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(100, clock);
    const sent: string[] = [];
    let behind: Promise<void> | undefined;
    let caughtUp!: () => void;
    const asked: number[] = [];
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter, 0),
      batchSize: 1,
      catchUp: () => {
        asked.push(sent.length);
        return behind;
      },
      send: async (_id, items) => {
        sent.push(items[0]!.email);
        return items.map(() => ({ status: 'accepted' as const }));
      },
    });
    await engine.submit({ email: 'a@example.com' });
    behind = new Promise<void>((resolve) => (caughtUp = resolve));
    const b = engine.submit({ email: 'b@example.com' });
    for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual(['a@example.com']);
    behind = undefined;
    caughtUp();
    expect(await b).toMatchObject({ status: 'delivered' });
    expect(sent).toEqual(['a@example.com', 'b@example.com']);
    // Asked before each batch: before a, before b (behind), and again once caught up.
    expect(asked).toEqual([0, 1, 1]);
  });

  it("gives each caller its own item's outcome", async () => {
    const { submitAll } = setup({
      behaviour: (items) => items.map((i) => (i.email.startsWith('u1') ? { status: 'rejected', error: 'suppressed' } : { status: 'accepted' })),
    });
    const outcomes = await submitAll(emails(3));
    expect(outcomes).toEqual([
      { status: 'delivered', batchId: 'b-1' },
      { status: 'rejected', batchId: 'b-1', errorClass: 'client', reason: 'suppressed' },
      { status: 'delivered', batchId: 'b-1' },
    ]);
  });

  it('overlaps requests: a 300 ms downstream does not slow the rate × batch-size pace', async () => {
    const { calls, clock, submitAll } = setup({
      rate: 5,
      batchSize: 10,
      behaviour: async (items, _call, c) => {
        await c.sleep(300);
        return acceptAll(items, 0, c);
      },
    });
    await submitAll(emails(100));
    expect(calls.map((c) => c.at)).toEqual([0, 0, 0, 0, 0, 1000, 1000, 1000, 1000, 1000]);
    expect(clock.now()).toBe(1300);
  });

  it('never sends more than R requests in any 1000 ms, retries and 429s included (property)', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed);
      const rate = 1 + Math.floor(random() * 5);
      const { calls, submitAll } = setup({
        rate,
        batchSize: 1 + Math.floor(random() * 4),
        maxRetries: 4,
        behaviour: (items) => {
          const draw = random();
          if (draw < 0.3) throw new HttpStatusError(503, 'flaky');
          if (draw < 0.35) throw new HttpStatusError(429, 'slow down', String(Math.floor(random() * 3)));
          return acceptAll(items, 0, undefined as never);
        },
      });
      const outcomes = await submitAll(emails(40));
      expect(outcomes.every((o) => o.status === 'delivered' || o.status === 'failed')).toBe(true);
      expect(maxInAnyWindow(calls.map((c) => c.at)), `seed ${seed}, rate ${rate}`).toBeLessThanOrEqual(rate);
    }
  });

  it('pauses all sending until Retry-After on a 429, and retries that batch with the same id', async () => {
    const { calls, submitAll } = setup({
      rate: 5,
      batchSize: 2,
      behaviour: (items, call) => {
        if (call === 1) throw new HttpStatusError(429, 'slow down', '2');
        return acceptAll(items, call, undefined as never);
      },
    });
    await submitAll(emails(8));
    const [first, ...rest] = calls;
    expect(first!.at).toBe(0);
    // The other three first batches had already left at t=0; nothing else goes before t=2000.
    const after = rest.filter((c) => c.at > 0);
    expect(after.every((c) => c.at >= 2000)).toBe(true);
    expect(calls.filter((c) => c.batchId === first!.batchId).map((c) => c.at)).toEqual([0, 2000]);
  });

  it('merges two items with the same key bound for the same batch: the later wins', async () => {
    const { engine, calls } = setup({ batchSize: 10 });
    const [earlier, later] = await Promise.all([
      engine.submit({ email: 'a@example.com', version: 1 }),
      engine.submit({ email: 'a@example.com', version: 2 }),
    ]);
    expect(earlier).toEqual({ status: 'duplicate', batchId: 'b-1' });
    expect(later).toEqual({ status: 'delivered', batchId: 'b-1' });
    expect(calls.map((c) => c.versions)).toEqual([[2]]);
  });

  it('never has the same key in flight twice: a later record waits, so a retry cannot undo it', async () => {
    const { engine, calls } = setup({
      batchSize: 1,
      behaviour: (items, call) => {
        if (call === 1) throw new HttpStatusError(500, 'ambiguous');
        return acceptAll(items, call, undefined as never);
      },
    });
    const first = engine.submit({ email: 'a@example.com', version: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    const second = engine.submit({ email: 'a@example.com', version: 2 });
    const other = engine.submit({ email: 'b@example.com' });
    await Promise.all([first, second, other]);
    expect(calls.map((c) => [c.emails[0], c.versions[0], c.at])).toEqual([
      ['a@example.com', 1, 0],
      ['b@example.com', undefined, 0], // not held up by a's retry
      ['a@example.com', 1, 1000], // the retry of the first record…
      ['a@example.com', 2, 1000], // …then the later record, never before it
    ]);
  });

  it('splits a batch on 413 and lowers the batch size from then on', async () => {
    const { engine, calls, submitAll } = setup({
      batchSize: 4,
      behaviour: (items) => {
        if (items.length > 2) throw new HttpStatusError(413, 'too large');
        return acceptAll(items, 0, undefined as never);
      },
    });
    const outcomes = await submitAll(emails(4));
    expect(outcomes.every((o) => o.status === 'delivered')).toBe(true);
    expect(calls.map((c) => [c.batchId, c.emails.length])).toEqual([
      ['b-1', 4],
      ['b-1.1', 2],
      ['b-1.2', 2],
    ]);
    expect(engine.currentBatchSize).toBe(2);
  });

  it('bisects a 400 batch to isolate the bad profile and delivers the rest', async () => {
    const { calls, submitAll } = setup({
      batchSize: 4,
      behaviour: (items) => {
        if (items.some((i) => i.email === 'bad@example.com')) throw new HttpStatusError(400, 'batch b: HTTP 400');
        return acceptAll(items, 0, undefined as never);
      },
    });
    const outcomes = await submitAll(['a@example.com', 'bad@example.com', 'c@example.com', 'd@example.com']);
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'rejected', 'delivered', 'delivered']);
    expect(outcomes[1]).toMatchObject({ errorClass: 'client', reason: 'batch b: HTTP 400' });
    expect(calls.map((c) => c.emails.length)).toEqual([4, 2, 2, 1, 1]);
  });

  it('bisects on until two bad profiles in different halves stand alone, each refused in its own words', async () => {
    const { calls, submitAll } = setup({
      batchSize: 8,
      behaviour: (items) => {
        const bad = items.find((i) => i.email.startsWith('bad'));
        if (bad) throw new HttpStatusError(400, `HTTP 400: ${bad.email} is malformed`, undefined, `${bad.email} is malformed`);
        return acceptAll(items, 0, undefined as never);
      },
    });
    const list = emails(8);
    list[1] = 'bad1@example.com';
    list[6] = 'bad2@example.com';
    const outcomes = await submitAll(list);
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'rejected', 'delivered', 'delivered', 'delivered', 'delivered', 'rejected', 'delivered']);
    expect(outcomes[6]).toMatchObject({ errorClass: 'client', reason: 'HTTP 400: bad2@example.com is malformed' });
    expect(calls.length).toBeLessThan(2 * list.length);
  });

  it('stops bisecting when both halves get the same 400: the platform, not a profile, is at fault', async () => {
    const { calls, submitAll } = setup({
      batchSize: 100,
      behaviour: () => {
        throw new HttpStatusError(400, 'HTTP 400: unsupported API version', undefined, 'unsupported API version');
      },
    });
    const outcomes = await submitAll(emails(100));
    // One request for the batch, one per half: not 199 requests down to single profiles.
    expect(calls.map((c) => c.emails.length)).toEqual([100, 50, 50]);
    expect(outcomes.every((o) => o.status === 'failed' && o.errorClass === 'server')).toBe(true);
    expect(outcomes[0]).toMatchObject({ reason: 'batch b-1: the downstream answered HTTP 400 to both halves the same way ("unsupported API version"): not a profile\'s fault, so it is not split further' });
  });

  it('a refusal the platform puts on a value (DataRefusedError) is bisected on even when both halves say the same words', async () => {
    // Iterable's type mismatch names the field, not the profile: two profiles sending a number where
    // a string was get the very same 400, yet each is the data's fault and their neighbours are fine.
    const words = "Field 'plan' already exists for type 'user' and has a data type of 'string' but possible types 'long' in the request.";
    const { calls, submitAll } = setup({
      batchSize: 8,
      behaviour: (items) => {
        if (items.some((i) => i.email.startsWith('bad'))) throw new DataRefusedError(400, `HTTP 400: ${words}`, undefined, words);
        return acceptAll(items, 0, undefined as never);
      },
    });
    const list = emails(8);
    list[1] = 'bad1@example.com';
    list[6] = 'bad2@example.com';
    const outcomes = await submitAll(list);
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'rejected', 'delivered', 'delivered', 'delivered', 'delivered', 'rejected', 'delivered']);
    expect(outcomes[6]).toMatchObject({ errorClass: 'client', reason: `HTTP 400: ${words}` });
    expect(calls.map((c) => c.emails.length)).toEqual([8, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1]);
  });

  it('a 401 fails the batch and everything still waiting at once, with the refusal as reason', async () => {
    const { calls, engine, submitAll } = setup({
      batchSize: 2,
      rate: 1,
      behaviour: () => {
        throw new AuthError('batch b-1: HTTP 401: the downstream refused the token; check SYNC_DOWNSTREAM_TOKEN');
      },
    });
    const outcomes = await submitAll(emails(6));
    expect(calls).toHaveLength(1);
    expect(outcomes.every((o) => o.status === 'failed' && o.errorClass === 'client' && /SYNC_DOWNSTREAM_TOKEN/.test(o.reason))).toBe(true);
    expect(await engine.submit({ email: 'late@example.com' })).toMatchObject({ status: 'failed', errorClass: 'client' });
    // Nothing more goes out: not the late item, not an empty request on the slot that was waiting.
    await engine.close();
    expect(calls).toHaveLength(1);
  });

  it('without a hold (push: one run) a refusal lasts as long as the engine', async () => {
    const { calls, clock, engine } = setup({ behaviour: () => {
      throw new AuthError('batch b-1: HTTP 401: the downstream refused the token; check SYNC_DOWNSTREAM_TOKEN');
    } });
    await engine.submit({ email: 'a@example.com' });
    clock.advance(24 * 3600_000);
    expect(engine.refusal?.message).toMatch(/HTTP 401/);
    expect(await engine.submit({ email: 'late@example.com' })).toMatchObject({ status: 'failed', errorClass: 'client' });
    await engine.close();
    expect(calls).toHaveLength(1);
  });

  it('with a hold (serve: a long-lived engine) a refusal fails new items for that long, then the platform is asked again', async () => {
    const { calls, clock, engine } = setup({
      refusalHoldMs: 30_000,
      behaviour: (items, call) => {
        if (call === 1) throw new RefusedError('batch b-1: HTTP 429: the daily limit is spent');
        return acceptAll(items, call, clock);
      },
    });
    expect(await engine.submit({ email: 'a@example.com' })).toMatchObject({ status: 'failed', reason: 'batch b-1: HTTP 429: the daily limit is spent' });
    clock.advance(29_999);
    expect(engine.refusal).toBeDefined();
    expect(await engine.submit({ email: 'b@example.com' })).toMatchObject({ status: 'failed', errorClass: 'client' });
    expect(calls).toHaveLength(1);
    clock.advance(1);
    expect(engine.refusal).toBeUndefined();
    expect(await engine.submit({ email: 'c@example.com' })).toEqual({ status: 'delivered', batchId: 'b-2' });
    expect(calls.map((call) => call.emails)).toEqual([['a@example.com'], ['c@example.com']]);
  });

  it('keeps total requests under ~1.1x first attempts when the downstream is dead (retry budget)', async () => {
    const { executor, submitAll } = setup({
      rate: 1000,
      batchSize: 1,
      maxRetries: 3,
      budget: new RetryBudget({ ratio: 0.1, reserve: 10 }),
      behaviour: () => {
        throw new HttpStatusError(503, 'down');
      },
    });
    const outcomes = await submitAll(emails(300));
    expect(outcomes.every((o) => o.status === 'failed' && o.errorClass === 'server')).toBe(true);
    const firstAttempts = 300;
    expect(executor.stats.requests).toBeLessThanOrEqual(firstAttempts * 1.1 + 10);
    expect(executor.stats.retries).toBeGreaterThan(0);
  });

  it('opens the breaker after repeated failures, fails waiting items fast, and recovers after the cool-down', async () => {
    const { engine, calls, clock, breaker, submitAll } = setup({
      rate: 100,
      batchSize: 1,
      maxRetries: 0,
      breaker: { failureThreshold: 3, cooldownMs: 5000 },
      behaviour: (items, _call, c) => {
        if (c.now() < 5000) throw new HttpStatusError(503, 'down');
        return acceptAll(items, 0, c);
      },
    });
    const outcomes = await submitAll(emails(10));
    expect(calls).toHaveLength(3);
    expect(breaker.state).toBe('open');
    expect(outcomes.filter((o) => o.status === 'failed' && o.errorClass === 'server')).toHaveLength(10);
    expect(outcomes.slice(3).every((o) => o.status === 'failed' && /circuit open/.test(o.reason))).toBe(true);

    await clock.sleep(5000);
    const recovered = await engine.submit({ email: 'late@example.com' });
    expect(recovered.status).toBe('delivered');
    expect(breaker.state).toBe('closed');
  });

  it('with --retry-for the same outage is waited out: nothing fails, the queue forms no batch while open, one probe per cool-down', async () => {
    const { calls, breaker, submitAll } = setup({
      rate: 100,
      batchSize: 1,
      maxRetries: 0,
      retryForMs: 60_000,
      breaker: { failureThreshold: 3, cooldownMs: 5000 },
      behaviour: (items, _call, c) => {
        if (c.now() < 12_000) throw new HttpStatusError(503, 'down');
        return acceptAll(items, 0, c);
      },
    });
    const outcomes = await submitAll(emails(10));
    expect(outcomes.map((o) => o.status)).toEqual(Array.from({ length: 10 }, () => 'delivered'));
    expect(breaker.state).toBe('closed');
    const during = calls.filter((c) => c.at < 12_000);
    // Three batches fail and open the circuit; then only probes go, a cool-down apart (the rest wait).
    expect(during.slice(0, 3).map((c) => c.batchId)).toEqual(['b-1', 'b-2', 'b-3']);
    const probes = during.slice(3).map((c) => c.at);
    expect(probes).toEqual([during[2]!.at + 5000, during[2]!.at + 10_000]);
    // The queued items became batches only after the circuit closed: b-4 onwards went out at once.
    expect(calls.length).toBe(during.length + 10);
  });

  it('with --retry-for, a new item waits in the queue while the circuit is open, and goes with the probe', async () => {
    const { engine, breaker, calls, clock } = setup({ breaker: { failureThreshold: 1, cooldownMs: 5000 }, retryForMs: 60_000 });
    breaker.failure();
    const outcome = await engine.submit({ email: 'a@example.com' });
    expect(outcome).toMatchObject({ status: 'delivered' });
    expect(calls.map((c) => c.at)).toEqual([5000]);
    expect(clock.now()).toBe(5000);
  });

  it('with --retry-for, once the outage has lasted longer, queued and new items fail at once as without', async () => {
    const { engine, breaker, calls, clock } = setup({ breaker: { failureThreshold: 1, cooldownMs: 5000 }, retryForMs: 3000 });
    breaker.failure();
    const waiting = engine.submit({ email: 'a@example.com' });
    // It waits until the outage is 3 s old (before the 5 s cool-down ends), then fails.
    expect(await waiting).toMatchObject({ status: 'failed', errorClass: 'server', reason: expect.stringMatching(/^downstream circuit open/) });
    expect(clock.now()).toBe(3000);
    expect(await engine.submit({ email: 'b@example.com' })).toMatchObject({ status: 'failed' });
    expect(clock.now()).toBe(3000);
    expect(calls).toHaveLength(0);
  });

  it('close() delivers everything queued; abort() fails what is queued as interrupted', async () => {
    const slow = setup({ rate: 1, batchSize: 1 });
    const pending = slow.submitAll(emails(3));
    await slow.engine.close();
    expect((await pending).map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);

    const stopped = setup({ rate: 1, batchSize: 1 });
    const queued = stopped.submitAll(emails(3));
    await new Promise((resolve) => setImmediate(resolve));
    await stopped.engine.abort();
    const outcomes = await queued;
    expect(outcomes.filter((o) => o.status === 'failed' && /interrupted/.test(o.reason)).length).toBeGreaterThanOrEqual(2);
  });
});

describe('BatchEngine: the edges of a run', () => {
  it('after close(), a new item fails at once as interrupted, and nothing is sent for it', async () => {
    const { engine, calls } = setup();
    await engine.close();
    expect(await engine.submit({ email: 'late@example.com' })).toEqual({ status: 'failed', errorClass: 'unexpected', reason: 'engine is shutting down' });
    expect(calls).toHaveLength(0);
  });

  it('while the circuit is open, a new item fails at once naming it', async () => {
    const { engine, breaker, calls } = setup({ breaker: { failureThreshold: 1, cooldownMs: 5000 } });
    breaker.failure();
    const outcome = await engine.submit({ email: 'a@example.com' });
    expect(outcome).toMatchObject({ status: 'failed', errorClass: 'server', reason: expect.stringMatching(/^downstream circuit open/) });
    expect(calls).toHaveLength(0);
  });

  it('abort() fails what is queued as "interrupted before delivery" and cancels what is in flight', async () => {
    const { engine, calls } = setup({
      rate: 1,
      batchSize: 1,
      behaviour: (items, _call, c, signal) => c.sleep(60_000, signal).then(() => acceptAll(items, 0, c)),
    });
    const outcomes = Promise.all(emails(3).map((email) => engine.submit({ email })));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(engine.batchesInFlight).toBe(1);
    expect(engine.queued).toBe(2);
    await engine.abort();
    expect(engine.batchesInFlight).toBe(0);
    expect(await engine.submit({ email: 'late@example.com' })).toEqual({ status: 'failed', errorClass: 'unexpected', reason: 'engine is shutting down' });
    const [inFlight, ...queued] = await outcomes;
    expect(inFlight).toMatchObject({ status: 'failed', errorClass: 'unexpected', reason: 'interrupted', batchId: 'b-1' });
    expect(queued).toEqual([
      { status: 'failed', errorClass: 'unexpected', reason: 'interrupted before delivery' },
      { status: 'failed', errorClass: 'unexpected', reason: 'interrupted before delivery' },
    ]);
    expect(calls).toHaveLength(1);
    expect(engine.batchesInFlight).toBe(0);
  });

  it('whenQueueBelow: at once when there is room, else once a batch has taken items', async () => {
    const { engine } = setup({ rate: 1, batchSize: 2 });
    await engine.whenQueueBelow(1);
    const outcomes = Promise.all(emails(5).map((email) => engine.submit({ email })));
    expect(engine.queued).toBe(5);
    let room = false;
    // Five queued is not below five.
    const waiting = engine.whenQueueBelow(5).then(() => (room = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(room).toBe(false);
    await waiting;
    expect(engine.queued).toBeLessThan(5);
    await outcomes;
  });

  it('with autoStart off, starts by itself once startWhenQueued items wait', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock);
    const sizes: number[] = [];
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter, 0),
      batchSize: 10,
      autoStart: false,
      startWhenQueued: 3,
      send: async (_id, items) => (sizes.push(items.length), items.map(() => ({ status: 'accepted' as const }))),
    });
    const first = [engine.submit({ email: 'a@x.io' }), engine.submit({ email: 'b@x.io' })];
    await new Promise((resolve) => setImmediate(resolve));
    expect(sizes).toEqual([]);
    expect(engine.started).toBe(false);
    const third = engine.submit({ email: 'c@x.io' });
    // Started at once (a producer reads this to step aside for the first batch).
    expect(engine.started).toBe(true);
    await Promise.all([...first, third]);
    expect(sizes).toEqual([3]);
  });

  it('a random batch id by default: "b-" and 16 hex digits, a new one per batch', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock);
    const ids: string[] = [];
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter, 0),
      batchSize: 1,
      send: async (id, items) => (ids.push(id), items.map(() => ({ status: 'accepted' as const }))),
    });
    await Promise.all([engine.submit({ email: 'a@x.io' }), engine.submit({ email: 'b@x.io' })]);
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(id).toMatch(/^b-[0-9a-f]{16}$/);
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('a lost shared quota fails what is queued, and the engine goes on once it is back', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock);
    let lost = true;
    const quota = Object.create(limiter) as RateLimiter;
    quota.acquire = (signal) => (lost ? Promise.reject(new Error('shared quota unavailable: Redis did not answer')) : limiter.acquire(signal));
    const engine = new BatchEngine<Item>({
      executor: new Executor({ clock, limiter: quota, policy: new RetryPolicy({ maxRetries: 0, random: () => 1 }) }),
      limiter: quota,
      batchSize: 5,
      key: (item) => item.email,
      send: async (_id, items) => items.map(() => ({ status: 'accepted' as const })),
    });
    const failedOutcomes = await Promise.all([engine.submit({ email: 'a@x.io' }), engine.submit({ email: 'b@x.io' })]);
    expect(failedOutcomes).toEqual([
      { status: 'failed', errorClass: 'unexpected', reason: 'shared quota unavailable: Redis did not answer' },
      { status: 'failed', errorClass: 'unexpected', reason: 'shared quota unavailable: Redis did not answer' },
    ]);
    lost = false;
    expect(await engine.submit({ email: 'c@x.io' })).toMatchObject({ status: 'delivered' });
    await engine.close();
  });

  it('a 413 for a single profile, and a 400 for a single profile, reject it as the client’s', async () => {
    for (const status of [413, 400]) {
      const { submitAll, calls } = setup({
        behaviour: () => {
          throw new HttpStatusError(status, `batch: HTTP ${status}`);
        },
      });
      expect(await submitAll(['a@example.com'])).toEqual([{ status: 'rejected', batchId: 'b-1', errorClass: 'client', reason: `batch: HTTP ${status}` }]);
      expect(calls).toHaveLength(1);
    }
  });

  it('a 413 halves an odd batch with the larger half first, and never sets the size below one', async () => {
    const { engine, calls, submitAll } = setup({
      batchSize: 3,
      behaviour: (items) => {
        if (items.length > 1) throw new HttpStatusError(413, 'too large');
        return acceptAll(items, 0, undefined as never);
      },
    });
    const outcomes = await submitAll(emails(3));
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(calls.map((c) => [c.batchId, c.emails.length])).toEqual([
      ['b-1', 3],
      ['b-1.1', 2],
      ['b-1.2', 1],
      ['b-1.1.1', 1],
      ['b-1.1.2', 1],
    ]);
    expect(engine.currentBatchSize).toBe(1);
    expect(engine.stats).toEqual({ batches: 5, splits: 2 });
  });

  it('tells what happened to each batch and each request: ids, parents, tallies, statuses, attempts, times', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock);
    const log: unknown[] = [];
    let call = 0;
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter, 1),
      batchSize: 4,
      newBatchId: () => 'b-1',
      now: () => clock.now(),
      events: {
        onBatch: (batch) => log.push(['batch', batch]),
        onBatchDone: (batch) => log.push(['done', batch]),
        onRetry: (batchId, event) => log.push(['retry', batchId, event.attempt, event.delayMs]),
        onRequest: (request) => log.push(['request', request]),
      },
      send: async (_id, items, _signal, hooks) => {
        call += 1;
        hooks?.bodyReady?.();
        await clock.sleep(10);
        hooks?.departed?.();
        await clock.sleep(40);
        if (call === 1) throw new NetworkError('ECONNRESET', 'socket hang up');
        if (call === 2) throw new HttpStatusError(400, 'HTTP 400');
        return items.map((item) => (item.email === 'b@x.io' ? { status: 'rejected' as const } : { status: 'accepted' as const }));
      },
    });
    const outcomes = await Promise.all(['a@x.io', 'b@x.io'].map((email) => engine.submit({ email })));
    await engine.close();
    expect(outcomes).toEqual([
      { status: 'delivered', batchId: 'b-1.1' },
      { status: 'rejected', batchId: 'b-1.2', errorClass: 'client', reason: 'rejected by the downstream' },
    ]);
    expect(log.slice(0, 4)).toEqual([
      ['batch', { batchId: 'b-1', size: 2, parent: undefined, reason: undefined }],
      ['request', { batchId: 'b-1', attempt: 1, status: 'ECONNRESET', durationMs: 50, grantedAt: 0, notBefore: 0, bodyReadyAt: 0, departedAt: 10 }],
      ['retry', 'b-1', 1, 1000],
      ['request', { batchId: 'b-1', attempt: 2, status: '400', durationMs: 50, grantedAt: 1050, notBefore: 1050, bodyReadyAt: 1050, departedAt: 1060 }],
    ]);
    expect(log.filter((entry) => (entry as unknown[])[0] === 'batch').map((entry) => (entry as [string, unknown])[1])).toEqual([
      { batchId: 'b-1', size: 2, parent: undefined, reason: undefined },
      { batchId: 'b-1.1', size: 1, parent: 'b-1', reason: 'bisect' },
      { batchId: 'b-1.2', size: 1, parent: 'b-1', reason: 'bisect' },
    ]);
    // The bisected parent settles nothing itself; its halves report what they settled.
    const done = log.filter((entry) => (entry as unknown[])[0] === 'done').map((entry) => (entry as [string, Record<string, unknown>])[1]);
    expect(done.map(({ durationMs: _, ...rest }) => rest)).toEqual([
      { batchId: 'b-1.1', size: 1, delivered: 1, rejected: 0, failed: 0 },
      { batchId: 'b-1.2', size: 1, delivered: 0, rejected: 1, failed: 0 },
      { batchId: 'b-1', size: 2, delivered: 0, rejected: 0, failed: 0 },
    ]);
  });
});

describe('BatchEngine: one at a time where it matters', () => {
  it('while the circuit is half-open, one batch (the probe) is on the wire and the rest wait for its answer', async () => {
    const { engine, calls, clock, breaker } = setup({
      rate: 100,
      batchSize: 1,
      maxRetries: 0,
      breaker: { failureThreshold: 1, cooldownMs: 1000 },
      behaviour: async (items, call, c) => {
        if (call === 1) throw new HttpStatusError(503, 'down');
        await c.sleep(300);
        return acceptAll(items, call, c);
      },
    });
    expect(await engine.submit({ email: 'first@x.io' })).toMatchObject({ status: 'failed' });
    expect(breaker.state).toBe('open');
    await clock.sleep(1000);
    const outcomes = await Promise.all(['a@x.io', 'b@x.io', 'c@x.io'].map((email) => engine.submit({ email })));
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);
    // The probe went alone at 1000; only its success (at 1300) let the others go, together.
    expect(calls.map((c) => [c.emails[0], c.at])).toEqual([
      ['first@x.io', 0],
      ['a@x.io', 1000],
      ['b@x.io', 1300],
      ['c@x.io', 1300],
    ]);
  });

  it('a key stays in flight until the split halves that carry it are done, and no longer', async () => {
    const { engine, calls } = setup({
      batchSize: 2,
      behaviour: async (items, _call, c) => {
        if (items.length > 1) throw new HttpStatusError(413, 'too large');
        await c.sleep(100);
        return acceptAll(items, 0, c);
      },
    });
    const first = [engine.submit({ email: 'a@x.io', version: 1 }), engine.submit({ email: 'b@x.io', version: 1 })];
    await new Promise((resolve) => setImmediate(resolve));
    const later = engine.submit({ email: 'a@x.io', version: 2 });
    await Promise.all([...first, later]);
    expect(calls.map((c) => [c.batchId, c.emails.join(','), c.versions.join(','), c.at])).toEqual([
      ['b-1', 'a@x.io,b@x.io', '1,1', 0],
      ['b-1.1', 'a@x.io', '1', 0],
      ['b-1.2', 'b@x.io', '1', 0],
      ['b-2', 'a@x.io', '2', 100],
    ]);
  });

  it('a request that failed without a status or code is reported as "error"', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock);
    const statuses: string[] = [];
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter, 0),
      batchSize: 1,
      events: { onRequest: (request) => statuses.push(request.status) },
      send: async () => {
        throw new Error('something odd');
      },
    });
    expect(await engine.submit({ email: 'a@x.io' })).toMatchObject({ status: 'failed', errorClass: 'unexpected' });
    expect(statuses).toEqual(['error']);
  });
});

describe('BatchEngine: what it reports, and what it costs', () => {
  /** Wraps a limiter to count how many slots were asked for. */
  function counting(limiter: RateLimiter): { limiter: RateLimiter; acquired: () => number } {
    let acquired = 0;
    const wrapped = Object.create(limiter) as RateLimiter;
    wrapped.acquire = (signal) => (acquired++, limiter.acquire(signal));
    return { limiter: wrapped, acquired: () => acquired };
  }

  it('items waiting behind a key in flight take no rate slots while they wait', async () => {
    const clock = new VirtualClock(0);
    const { limiter, acquired } = counting(RateLimiter.perSecond(100, clock));
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter, 0),
      batchSize: 5,
      send: async (_id, items) => (await clock.sleep(2000), items.map(() => ({ status: 'accepted' as const }))),
    });
    const first = engine.submit({ email: 'a@x.io', version: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const second = engine.submit({ email: 'a@x.io', version: 2 });
    await Promise.all([first, second]);
    expect(clock.now()).toBe(4000);
    expect(acquired()).toBe(2);
  });

  it('a submission costs the same however many items wait behind a key in flight (issue 19: nothing per submission walks the queue)', async () => {
    const clock = new VirtualClock(0);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const engine = new BatchEngine<Item>({
      ...wired(clock, RateLimiter.perSecond(100, clock), 0),
      batchSize: 5,
      // The first batch stays on the wire until released; later ones are answered at once.
      send: async (_id, items) => (await held, items.map(() => ({ status: 'accepted' as const }))),
    });
    const first = engine.submit({ email: 'a@x.io', version: 0 });
    while (engine.batchesInFlight === 0) await new Promise((resolve) => setImmediate(resolve));
    // Each submission arrives in a turn of its own, as a server's callers do; all wait behind a@x.io.
    // Counted, not timed: how often the engine asks whether a key is in flight.
    const has = vi.spyOn(Set.prototype, 'has');
    const lookups: number[] = [];
    const waiting: Promise<DeliveryOutcome>[] = [];
    try {
      for (let n = 1; n <= 400; n++) {
        const before = has.mock.calls.length;
        waiting.push(engine.submit({ email: 'a@x.io', version: n }));
        await new Promise((resolve) => setImmediate(resolve));
        lookups.push(has.mock.calls.length - before);
      }
    } finally {
      has.mockRestore();
    }
    // Walking the queue on every submission made the 400th cost 400 lookups (80,000 in all).
    expect(Math.max(...lookups.slice(-100))).toBeLessThanOrEqual(Math.max(...lookups.slice(0, 100)));
    expect(lookups.reduce((sum, n) => sum + n, 0)).toBeLessThan(3 * 400);
    release();
    await first;
    // Once the key leaves flight, what waited behind it goes out: the latest version, the rest merged into it.
    const outcomes = await Promise.all(waiting.map(async (outcome) => ((await outcome).status)));
    expect(outcomes.filter((status) => status === 'delivered')).toHaveLength(1);
    expect(outcomes.at(-1)).toBe('delivered');
  });

  it('with autoStart off and the circuit open, a new item fails at once, without waiting for start()', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock);
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1 });
    breaker.failure();
    const engine = new BatchEngine<Item>({
      executor: new Executor({ clock, limiter, breaker, policy: new RetryPolicy({ maxRetries: 0, random: () => 1 }) }),
      limiter,
      breaker,
      batchSize: 5,
      key: (item) => item.email,
      autoStart: false,
      send: async (_id, items) => items.map(() => ({ status: 'accepted' as const })),
    });
    expect(await engine.submit({ email: 'a@x.io' })).toMatchObject({ status: 'failed', reason: expect.stringMatching(/circuit open/) });
  });

  it('when the circuit opens, what is queued fails then, not one rate slot at a time', async () => {
    const { engine, clock } = setup({
      rate: 1,
      batchSize: 1,
      maxRetries: 0,
      breaker: { failureThreshold: 1, cooldownMs: 60_000 },
      behaviour: () => {
        throw new HttpStatusError(503, 'down');
      },
    });
    const settledAt: number[] = [];
    await Promise.all(emails(4).map((email) => engine.submit({ email }).then(() => settledAt.push(clock.now()))));
    // The dispatcher was waiting for the next slot when the circuit opened: that batch fails once the
    // slot comes (the executor refuses it), and everything queued behind it fails with it, at once.
    expect(settledAt).toEqual([0, 1000, 1000, 1000]);
  });

  it('runs with no event handlers at all, through retries, splits and bisection', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock);
    let call = 0;
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter, 1),
      batchSize: 4,
      events: {},
      send: async (_id, items) => {
        call += 1;
        if (call === 1) throw new HttpStatusError(503, 'flaky');
        if (items.length === 4) throw new HttpStatusError(413, 'too large');
        if (items.some((item) => item.email === 'bad@x.io')) throw new HttpStatusError(400, 'bad');
        return items.map(() => ({ status: 'accepted' as const }));
      },
    });
    const outcomes = await Promise.all(['a@x.io', 'bad@x.io', 'c@x.io', 'd@x.io'].map((email) => engine.submit({ email })));
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'rejected', 'delivered', 'delivered']);
  });

  it('an executor without a limiter: retries carry no slot, and the request hooks still work', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock);
    const requests: { attempt: number; status: string; grantedAt?: number; notBefore?: number; departedAt?: number }[] = [];
    let call = 0;
    const engine = new BatchEngine<Item>({
      executor: new Executor({ clock, policy: new RetryPolicy({ maxRetries: 1, random: () => 1 }) }),
      limiter,
      batchSize: 1,
      key: (item) => item.email,
      now: () => clock.now(),
      events: { onRequest: ({ attempt, status, grantedAt, notBefore, departedAt }) => requests.push({ attempt, status, grantedAt, notBefore, departedAt }) },
      send: async (_id, items, _signal, hooks) => {
        hooks?.departed?.();
        if (++call === 1) throw new HttpStatusError(503, 'flaky');
        return items.map(() => ({ status: 'accepted' as const }));
      },
    });
    expect(await engine.submit({ email: 'a@x.io' })).toMatchObject({ status: 'delivered' });
    expect(requests).toEqual([
      { attempt: 1, status: '503', grantedAt: 0, notBefore: 0, departedAt: 0 },
      { attempt: 2, status: '200', grantedAt: undefined, notBefore: undefined, departedAt: 1000 },
    ]);
  });

  it('a batch reports what it settled: failed ones counted, merged duplicates not, and how long it took', async () => {
    const clock = new VirtualClock(5000);
    const limiter = RateLimiter.perSecond(5, clock);
    const done: unknown[] = [];
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter, 0),
      batchSize: 5,
      newBatchId: () => 'b-1',
      now: () => clock.now(),
      events: { onBatchDone: (batch) => done.push(batch) },
      send: async () => {
        await clock.sleep(120);
        throw new HttpStatusError(503, 'down');
      },
    });
    const outcomes = await Promise.all([engine.submit({ email: 'a@x.io', version: 1 }), engine.submit({ email: 'a@x.io', version: 2 }), engine.submit({ email: 'b@x.io' })]);
    await engine.close();
    expect(outcomes.map((o) => o.status)).toEqual(['duplicate', 'failed', 'failed']);
    expect(done).toEqual([{ batchId: 'b-1', size: 2, delivered: 0, rejected: 0, failed: 2, durationMs: 120 }]);
  });

  it('split halves name their parent and why; a bisected half that fails again reports nothing itself', async () => {
    const { engine, submitAll } = (() => {
      const clock = new VirtualClock(0);
      const limiter = RateLimiter.perSecond(5, clock);
      let ids = 0;
      const batches: unknown[] = [];
      const done: string[] = [];
      const engine = new BatchEngine<Item>({
        ...wired(clock, limiter, 0),
        batchSize: 8,
        newBatchId: () => `b-${++ids}`,
        events: { onBatch: (batch) => batches.push(batch), onBatchDone: (batch) => done.push(batch.batchId) },
        send: async (_id, items) => {
          if (items.length > 4) throw new HttpStatusError(413, 'too large');
          if (items.some((item) => item.email.startsWith('bad'))) throw new HttpStatusError(400, 'bad profile', undefined, 'bad profile');
          return items.map(() => ({ status: 'accepted' as const }));
        },
      });
      return { engine: Object.assign(engine, { batches, done }), submitAll: (list: string[]) => Promise.all(list.map((email) => engine.submit({ email }))) };
    })();
    const list = emails(8);
    list[0] = 'bad@example.com';
    const outcomes = await submitAll(list);
    await engine.close();
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'delivered']);
    expect(engine.batches).toEqual([
      { batchId: 'b-1', size: 8, parent: undefined, reason: undefined },
      { batchId: 'b-1.1', size: 4, parent: 'b-1', reason: 'split' },
      { batchId: 'b-1.2', size: 4, parent: 'b-1', reason: 'split' },
      { batchId: 'b-1.1.1', size: 2, parent: 'b-1.1', reason: 'bisect' },
      { batchId: 'b-1.1.2', size: 2, parent: 'b-1.1', reason: 'bisect' },
      { batchId: 'b-1.1.1.1', size: 1, parent: 'b-1.1.1', reason: 'bisect' },
      { batchId: 'b-1.1.1.2', size: 1, parent: 'b-1.1.1', reason: 'bisect' },
    ]);
    // A bisected half refused as a whole settles nothing itself (b-1.1.1, and b-1.1.1.1 whose lone
    // profile is then rejected by the batch that bisected it): only batches that settled report.
    expect(engine.done.sort()).toEqual(['b-1', 'b-1.1', 'b-1.1.1.2', 'b-1.1.2', 'b-1.2']);
    expect(engine.stats).toEqual({ batches: 7, splits: 3 });
  });

  it('both halves refused the same way without details: the reason says so without quoting anything', async () => {
    const { submitAll } = setup({
      batchSize: 4,
      behaviour: () => {
        throw new HttpStatusError(400, 'HTTP 400');
      },
    });
    const outcomes = await submitAll(emails(4));
    expect(outcomes[0]).toMatchObject({
      status: 'failed',
      errorClass: 'server',
      reason: "batch b-1: the downstream answered HTTP 400 to both halves the same way: not a profile's fault, so it is not split further",
    });
  });
});

describe('BatchEngine: backpressure and split halves, exactly', () => {
  it('whenQueueBelow(n) waits while exactly n are queued', async () => {
    const { engine, clock } = setup({ rate: 1, batchSize: 2 });
    const outcomes = Promise.all(emails(5).map((email) => engine.submit({ email })));
    let releasedAt: number | undefined;
    // The first batch leaves three queued: not below three. The second leaves one.
    const waiting = engine.whenQueueBelow(3).then(() => (releasedAt = clock.now()));
    await waiting;
    expect(releasedAt).toBe(1000);
    await outcomes;
  });

  it('split halves that fail report their failures themselves', async () => {
    const done: unknown[] = [];
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock);
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter, 0),
      batchSize: 2,
      newBatchId: () => 'b-1',
      events: { onBatchDone: ({ batchId, delivered, rejected, failed }) => done.push([batchId, delivered, rejected, failed]) },
      send: async (_id, items) => {
        if (items.length > 1) throw new HttpStatusError(413, 'too large');
        throw new HttpStatusError(503, 'down');
      },
    });
    await Promise.all(['a@x.io', 'b@x.io'].map((email) => engine.submit({ email })));
    await engine.close();
    expect(done).toEqual([
      ['b-1.1', 0, 0, 1],
      ['b-1.2', 0, 0, 1],
      ['b-1', 0, 0, 0],
    ]);
  });
});

describe('BatchEngine: the limits real platforms need', () => {
  it('never more requests on the wire than the gate allows, retries and split halves included', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(100, clock);
    const gate = new ConcurrencyGate(2, clock);
    const executor = new Executor({ clock, limiter, gate, policy: new RetryPolicy({ maxRetries: 3, random: () => 1 }) });
    let inFlight = 0;
    let most = 0;
    let calls = 0;
    let split = false;
    const engine = new BatchEngine<Item>({
      executor,
      limiter,
      gate,
      batchSize: 4,
      key: (item) => item.email,
      send: async (_id, items) => {
        calls += 1;
        inFlight += 1;
        most = Math.max(most, inFlight);
        await clock.sleep(300);
        inFlight -= 1;
        // Every third call fails (retried); a batch of four is too large once (split).
        if (calls % 3 === 0) throw new HttpStatusError(503, 'HTTP 503');
        if (!split && items.length === 4) {
          split = true;
          throw new HttpStatusError(413, 'HTTP 413');
        }
        return items.map(() => ({ status: 'accepted' as const }));
      },
    });
    const outcomes = await Promise.all(emails(40).map((email) => engine.submit({ email })));
    expect(outcomes.every((outcome) => outcome.status === 'delivered')).toBe(true);
    expect(most).toBe(2);
    expect(engine.stats.splits).toBe(1);
  });

  it('many submissions of a few addresses mixed with others, arriving turn by turn, three batches on the wire: one batch per address at a time, each address\'s versions in order, every submission answered', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(100, clock);
    const gate = new ConcurrencyGate(3, clock);
    const executor = new Executor({ clock, limiter, gate, policy: new RetryPolicy({ maxRetries: 0, random: () => 1 }) });
    const random = seededRandom(19);
    const onWire = new Set<string>();
    const sent = new Map<string, number[]>();
    let overlaps = 0;
    const engine = new BatchEngine<Item>({
      executor,
      limiter,
      gate,
      batchSize: 7,
      key: (item) => item.email,
      send: async (_id, items) => {
        for (const { email, version } of items) {
          if (onWire.has(email)) overlaps += 1;
          onWire.add(email);
          sent.set(email, [...(sent.get(email) ?? []), version!]);
        }
        await clock.sleep(Math.floor(random() * 400));
        for (const { email } of items) onWire.delete(email);
        return items.map(() => ({ status: 'accepted' as const }));
      },
    });
    const hot = ['h0@x.io', 'h1@x.io', 'h2@x.io'];
    const submitted: { email: string; version: number; outcome: Promise<DeliveryOutcome> }[] = [];
    for (let version = 0; version < 300; version++) {
      const email = random() < 0.6 ? hot[Math.floor(random() * hot.length)]! : `u${version}@x.io`;
      submitted.push({ email, version, outcome: engine.submit({ email, version }) });
      if (random() < 0.5) await new Promise((resolve) => setImmediate(resolve));
    }
    const outcomes = await Promise.all(submitted.map((s) => s.outcome));
    expect(overlaps).toBe(0);
    for (const [email, versions] of sent) expect(versions, email).toEqual([...versions].sort((a, b) => a - b));
    expect(outcomes.every((o) => o.status === 'delivered' || o.status === 'duplicate')).toBe(true);
    // The last version of each address is the one the platform holds.
    for (const email of new Set(submitted.map((s) => s.email))) {
      const last = submitted.filter((s) => s.email === email).at(-1)!;
      expect(sent.get(email)!.at(-1), email).toBe(last.version);
      expect(outcomes[last.version]!.status, email).toBe('delivered');
    }
  });

  it('cuts batches by bytes as sent: items and envelope never above maxBytes, one item always goes', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(100, clock);
    const sizes: number[][] = [];
    const weigh = (item: Item): number => item.version ?? 0;
    const engine = new BatchEngine<Item>({
      ...wired(clock, limiter),
      batchSize: 100,
      bytes: { weigh, envelope: (count) => 10 + count, maxBytes: 100 },
      send: async (_id, items) => {
        sizes.push(items.map(weigh));
        return items.map(() => ({ status: 'accepted' as const }));
      },
    });
    const weights = [30, 30, 30, 5, 50, 40, 95, 20];
    await Promise.all(weights.map((version, i) => engine.submit({ email: `w${i}@x.com`, version })));
    expect(sizes).toEqual([[30, 30], [30, 5, 50], [40], [95], [20]]);
    // 95 alone is over the limit with its envelope: it still goes, alone (nothing waits for ever).
    for (const batch of sizes.filter((batch) => batch.length > 1)) expect(batch.reduce((a, b) => a + b, 0) + 10 + batch.length).toBeLessThanOrEqual(100);
  });

  it('a refusal of the run itself (not only 401/403: a wrong list, a spent daily quota) fails everything waiting at once', async () => {
    const { submitAll, calls } = setup({ rate: 1, batchSize: 2, behaviour: () => {
      throw new RefusedError('batch: HTTP 404: no audience "x"; check --list');
    } });
    const outcomes = await submitAll(emails(10));
    expect(calls).toHaveLength(1);
    expect(new Set(outcomes.map((outcome) => outcome.status))).toEqual(new Set(['failed']));
    expect(outcomes[9]).toMatchObject({ errorClass: 'client', reason: 'batch: HTTP 404: no audience "x"; check --list' });
  });

  it('an item the answer names nowhere fails as unexpected (never delivered, dead-lettered for replay)', async () => {
    const { engine } = setup({ behaviour: (items) => items.map((_item, i) => (i === 0 ? { status: 'accepted' } : { status: 'unconfirmed', error: 'not in the answer' })) });
    const [first, second] = await Promise.all([engine.submit({ email: 'a@x.com' }), engine.submit({ email: 'b@x.com' })]);
    expect(first).toEqual({ status: 'delivered', batchId: 'b-1' });
    expect(second).toEqual({ status: 'failed', batchId: 'b-1', errorClass: 'unexpected', reason: 'not in the answer' });
  });

  it("a 429 that says how long (a platform's own header) is waited exactly that long; one for too many connections pauses nobody else", async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(100, clock);
    const gate = new ConcurrencyGate(4, clock);
    const executor = new Executor({ clock, limiter, gate, slowDownOn429: false, policy: new RetryPolicy({ maxRetries: 3, random: () => 1 }) });
    const at: number[] = [];
    let calls = 0;
    const engine = new BatchEngine<Item>({
      executor,
      limiter,
      gate,
      batchSize: 1,
      key: (item) => item.email,
      send: async (_id, items) => {
        calls += 1;
        at.push(clock.now());
        if (calls === 1) throw new RateLimitedError('HTTP 429', 10_000);
        return items.map(() => ({ status: 'accepted' as const }));
      },
    });
    await engine.submit({ email: 'a@x.com' });
    expect(at).toEqual([0, 10_000]);

    at.length = 0;
    calls = 0;
    const connections = new BatchEngine<Item>({
      executor,
      limiter,
      gate,
      batchSize: 1,
      key: (item) => item.email,
      send: async (_id, items) => {
        calls += 1;
        at.push(clock.now());
        if (calls === 1) throw new RateLimitedError('HTTP 429', 1000, 'connections');
        return items.map(() => ({ status: 'accepted' as const }));
      },
    });
    const start = clock.now();
    await Promise.all([connections.submit({ email: 'a@x.com' }), connections.submit({ email: 'b@x.com' })]);
    // The other request went at once; only the refused one waited its second, and the gate holds fewer.
    expect(at.map((t) => t - start).sort((a, b) => a - b)).toEqual([0, 0, 1000]);
    expect(gate.limit).toBeLessThan(4);
  });
});

describe("BatchEngine: a batch's answer is worked through as it arrives", () => {
  /** An engine paced as push paces (5/s smooth, granted 60 ms ahead); `send` is given its clock. */
  function paced(batchSize: number, send: (clock: VirtualClock) => SendBatch<Item>) {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { smooth: true, leadMs: 60 });
    return { clock, engine: new BatchEngine<Item>({ ...wired(clock, limiter, 0), batchSize, now: () => clock.now(), send: send(clock) }) };
  }

  /** The transport holding each request until its instant, the platform answering 150 ms after it left; departures noted. */
  const leavesThenAnswers =
    (departed: number[]) =>
    (clock: VirtualClock): SendBatch<Item> =>
    async (_id, items, signal, hooks) => {
      await clock.sleep(Math.max(0, hooks!.notBefore! - clock.now()), signal);
      departed.push(clock.now());
      hooks?.departed?.();
      await clock.sleep(150, signal);
      return items.map(() => ({ status: 'accepted' as const }));
    };

  it('settles a batch at its answer, not once the next request has left: a kill then sends again only what was in flight', async () => {
    // Push's pacing (5/s smooth, granted 60 ms ahead, the transport holding each request until its
    // instant) against a platform answering 150 ms after a request leaves. The next request is due
    // 50 ms after each answer: holding the answer's work until it left once delayed push's state
    // commit by a batch, which a kill -9 then sent again.
    const departed: number[] = [];
    const { clock, engine } = paced(2, leavesThenAnswers(departed));
    const settledAt: number[] = [];
    await Promise.all(emails(6).map((email, i) => engine.submit({ email }).then(() => (settledAt[i] = clock.now()))));
    expect(departed).toEqual([0, 200, 400]);
    expect(settledAt).toEqual([150, 150, 350, 350, 550, 550]);
  });

  it('a producer waiting for room is woken when the next request has left, not at an answer while that request waits for its instant', async () => {
    // As push paces: the batch for the next slot is taken at its grant, 60 ms before its instant, and
    // the answer to the one before arrives in between (150 ms after it left). Push's reader, woken
    // there, kept the event loop reading records through the next departure.
    const departed: number[] = [];
    const { clock, engine } = paced(2, leavesThenAnswers(departed));
    const outcomes = Promise.all(emails(6).map((email) => engine.submit({ email })));
    let woken: number | undefined;
    // Six queued; the first batch leaves four, the second (taken at 140) two.
    const room = engine.whenQueueBelow(3).then(() => (woken = clock.now()));
    await room;
    await outcomes;
    expect(departed).toEqual([0, 200, 400]);
    expect(woken).toBe(200);
  });

  it('split halves are no batches taken from the queue: after a split, a batch that ends without leaving still wakes a waiting producer', async () => {
    let refusedAt: number | undefined;
    const { clock, engine } = paced(4, (clock) => async (_id, items, signal, hooks) => {
        await clock.sleep(Math.max(0, (hooks?.notBefore ?? 0) - clock.now()), signal);
        // The second batch from the queue (u4, u5) never leaves: its connection is refused.
        if (items[0]!.email === 'u4@example.com') {
          refusedAt = clock.now();
          throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        }
        hooks?.departed?.();
        // The first batch (four) is too large: it is split in two halves, which go through.
        if (items.length > 2) throw new HttpStatusError(413, 'too large');
        return items.map(() => ({ status: 'accepted' as const }));
    });
    const outcomes = Promise.all(emails(6).map((email) => engine.submit({ email })));
    let woken: number | undefined;
    const room = engine.whenQueueBelow(1).then(() => (woken = clock.now()));
    await room;
    expect(woken).toBe(refusedAt);
    expect((await outcomes).map((outcome) => outcome.status)).toEqual(['delivered', 'delivered', 'delivered', 'delivered', 'failed', 'failed']);
  });

  it('a batch that ends without its request leaving wakes a producer waiting for room', async () => {
    const { clock, engine } = paced(2, (clock) => async (_id, items, signal, hooks) => {
      await clock.sleep(Math.max(0, hooks!.notBefore! - clock.now()), signal);
      // The first request leaves; the second fails to connect, so never leaves.
      if (clock.now() > 0) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      hooks?.departed?.();
      await clock.sleep(150, signal);
      return items.map(() => ({ status: 'accepted' as const }));
    });
    const outcomes = Promise.all(emails(4).map((email) => engine.submit({ email })));
    let woken: number | undefined;
    const room = engine.whenQueueBelow(1).then(() => (woken = clock.now()));
    await room;
    expect(woken).toBe(200);
    expect((await outcomes).map((outcome) => outcome.status)).toEqual(['delivered', 'delivered', 'failed', 'failed']);
  });
});
