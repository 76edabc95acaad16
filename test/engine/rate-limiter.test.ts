import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/engine/random.js';
import { CATCH_UP, MAX_WIDENING_MS, RateLimiter, WIDEN_STEP_MS } from '../../src/engine/rate-limiter.js';
import { VirtualClock } from '../helpers/virtual-clock.js';
import { maxInAnyWindow } from '../helpers/windows.js';


describe('RateLimiter', () => {
  it('grants the first N at once, then one per freed slot of the sliding window', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RateLimiter({ limit: 5, clock });
    const grants: number[] = [];
    await Promise.all(Array.from({ length: 12 }, () => limiter.acquire().then((slot) => (slot.depart(), grants.push(clock.now())))));
    expect(grants).toEqual([0, 0, 0, 0, 0, 1000, 1000, 1000, 1000, 1000, 2000, 2000]);
  });

  it('never lets more than N through within any 1000 ms, whatever the arrival pattern (property)', async () => {
    for (let seed = 1; seed <= 25; seed++) {
      const random = seededRandom(seed);
      const clock = new VirtualClock(0);
      const limit = 1 + Math.floor(random() * 9);
      const limiter = new RateLimiter({ limit, clock });
      const grants: number[] = [];
      const callers = Array.from({ length: 40 }, async () => {
        await clock.sleep(Math.floor(random() * 3000));
        (await limiter.acquire()).depart();
        grants.push(clock.now());
        if (random() < 0.1) limiter.pauseUntil(clock.now() + Math.floor(random() * 1500));
        if (random() < 0.1) limiter.slowDown();
        limiter.recover();
      });
      await Promise.all(callers);
      expect(grants).toHaveLength(40);
      expect(maxInAnyWindow(grants), `seed ${seed}, limit ${limit}`).toBeLessThanOrEqual(limit);
    }
  });

  it('in smooth mode spaces grants evenly instead of bursting', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 25, smooth: true });
    const grants: number[] = [];
    await Promise.all(Array.from({ length: 7 }, () => limiter.acquire().then((slot) => (slot.depart(), grants.push(clock.now())))));
    expect(grants).toEqual([0, 205, 410, 615, 820, 1025, 1230]);
    expect(maxInAnyWindow(grants, 1025)).toBe(5);
  });

  it('pauses every caller until pauseUntil', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RateLimiter({ limit: 10, clock });
    limiter.pauseUntil(2500);
    await limiter.acquire();
    expect(clock.now()).toBe(2500);
  });

  it('halves on slowDown and climbs back one step per window on recover', () => {
    const clock = new VirtualClock(0);
    const limiter = new RateLimiter({ limit: 10, clock });
    limiter.slowDown();
    expect(limiter.currentLimit).toBe(5);
    limiter.slowDown();
    expect(limiter.currentLimit).toBe(2);
    limiter.recover();
    expect(limiter.currentLimit).toBe(2); // not within the same window
    clock.advance(1000);
    limiter.recover();
    limiter.recover();
    expect(limiter.currentLimit).toBe(3);
    for (let i = 0; i < 20; i++) {
      clock.advance(1000);
      limiter.recover();
    }
    expect(limiter.currentLimit).toBe(10);
  });

  it('tryAcquire answers how long until a slot frees instead of waiting', () => {
    const clock = new VirtualClock(0);
    const limiter = new RateLimiter({ limit: 2, clock });
    expect(limiter.tryAcquire()).toBe(0);
    clock.advance(300);
    expect(limiter.tryAcquire()).toBe(0);
    expect(limiter.tryAcquire()).toBe(700);
    clock.advance(700);
    expect(limiter.tryAcquire()).toBe(0);
  });

  it('turns a fractional rate into one request per longer window', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(0.5, clock);
    (await limiter.acquire()).depart();
    (await limiter.acquire()).depart();
    expect(clock.now()).toBe(2000);
  });

  it('lets an aborted waiter go without blocking the ones behind it', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RateLimiter({ limit: 1, clock });
    (await limiter.acquire()).depart();
    const controller = new AbortController();
    const aborted = limiter.acquire(controller.signal);
    const next = limiter.acquire();
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    await next;
    expect(clock.now()).toBe(1000);
  });

  it('follows departures, not grants: the next request waits for a late one, then keeps to the plan or to CATCH_UP of a spacing after it', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { smooth: true });
    const spacing = 200;
    const first = await limiter.acquire();
    expect(first.grantedAt).toBe(0);
    const departures: number[] = [];
    const next = async (): Promise<void> => {
      const slot = await limiter.acquire();
      departures.push(clock.now());
      slot.depart();
    };
    // The granted request stalls 20 ms before it reaches the socket (a busy event loop, a handshake).
    const second = next();
    await clock.sleep(20);
    first.depart();
    await second;
    // Not granted while the first had not left; then on the plan (200 ms): the late one left
    // more than CATCH_UP of a spacing before it.
    expect(departures).toEqual([Math.max(spacing, 20 + spacing * CATCH_UP)]);
    const third = await limiter.acquire();
    const planned = clock.now();
    expect(planned).toBe(departures[0]! + spacing);
    await clock.sleep(150); // but it leaves 150 ms late
    third.depart();
    await next();
    // CATCH_UP of a spacing after the late departure, later than the plan.
    expect(departures[1]).toBe(planned + 150 + spacing * CATCH_UP);
    expect(departures[1]).toBeGreaterThan(planned + spacing);
  });

  it('counts actual departures in the window: five requests never land within it, however late some left', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { smooth: true });
    const departures: number[] = [];
    for (let i = 0; i < 30; i++) {
      const slot = await limiter.acquire();
      if (i % 4 === 1) await clock.sleep(30 + ((i * 37) % 90)); // some leave late
      departures.push(clock.now());
      slot.depart();
    }
    expect(maxInAnyWindow(departures, 1000)).toBeLessThanOrEqual(5);
  });

  it('counts a granted slot that has not left yet as leaving now, in the sliding window too', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RateLimiter({ limit: 2, clock });
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    let thirdAt: number | undefined;
    const third = limiter.acquire().then((slot) => (thirdAt = clock.now(), slot.depart()));
    await clock.sleep(1500);
    expect(thirdAt).toBeUndefined(); // a and b are still "leaving now": no room
    a.depart();
    b.depart();
    await third;
    // Both left at 1500: the third may go once one of them is a whole window old.
    expect(thirdAt).toBe(2500);
  });

  it('forgets a cancelled slot: nothing was sent on it', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RateLimiter({ limit: 1, clock });
    (await limiter.acquire()).cancel();
    (await limiter.acquire()).depart();
    expect(clock.now()).toBe(0);
  });

  it('widens the window by a step per 429 from a known limit, up to a cap', () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 40 });
    expect(limiter.windowMs).toBe(1040);
    expect(limiter.widenMargin()).toBe(1040 + WIDEN_STEP_MS);
    for (let i = 0; i < 100; i++) limiter.widenMargin();
    expect(limiter.windowMs).toBe(1040 + MAX_WIDENING_MS);
  });

  it('widens the window while departures run late (a busy machine), and narrows it back when they do not', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 50, smooth: true, leadMs: 60 });
    expect(limiter.windowMs).toBe(1050);
    (await limiter.acquire()).depart();
    // Waited for (prepared during its lead), then left 80 ms after its instant.
    const slot = await limiter.acquire();
    expect(clock.sleeps).toEqual([210 - 60]);
    await clock.sleep(slot.notBefore + 80 - clock.now());
    slot.depart();
    expect(limiter.windowMs).toBe(1050 + 80);
    for (let i = 0; i < 10; i++) {
      const next = await limiter.acquire();
      await clock.sleep(next.notBefore - clock.now());
      next.depart(); // on time
    }
    expect(limiter.windowMs).toBe(1050);
  });
});

describe('RateLimiter lateness of a slot free when asked for', () => {
  it("the first request's preparation after its grant is not lateness until it outlasts the lead", async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 20, smooth: true, leadMs: 60 });
    const first = await limiter.acquire();
    expect([first.grantedAt, first.notBefore, clock.sleeps]).toEqual([0, 0, []]);
    // Its body built and its connection made with cold code: 55 ms after the grant.
    await clock.sleep(55);
    first.depart();
    expect(limiter.windowMs).toBe(1020);
    // Spacing still follows the actual departure (catch-up: at least 0.8 of a spacing after it).
    const second = await limiter.acquire();
    expect(second.notBefore).toBeCloseTo(55 + 0.8 * 204, 6);
  });

  it('past the lead it is late: a busy machine still widens the window', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 20, smooth: true, leadMs: 60 });
    const first = await limiter.acquire();
    await clock.sleep(95);
    first.depart();
    expect(limiter.windowMs).toBe(1020 + 35);
  });

  it('a slot free with part of the lead left is due a whole lead after its grant; a waited-for one at its notBefore', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 20, smooth: true, leadMs: 60 });
    (await limiter.acquire()).depart();
    // Asked for 20 ms before the next instant (the queue was empty until then): granted at once.
    await clock.sleep(184);
    const partial = await limiter.acquire();
    expect([partial.grantedAt, partial.notBefore, clock.sleeps]).toEqual([184, 204, [184]]);
    await clock.sleep(244 - clock.now());
    partial.depart();
    expect(limiter.windowMs).toBe(1020);
    const waited = await limiter.acquire();
    expect([waited.notBefore, clock.sleeps.at(-1)]).toEqual([408, 408 - 60 - 244]);
    await clock.sleep(430 - clock.now());
    waited.depart();
    expect(limiter.windowMs).toBe(1020 + 22);
  });

  it('a waited-for slot whose wake-up came late (a busy machine) is late from its notBefore: the late timer is not credited', async () => {
    const virtual = new VirtualClock(0);
    // Every sleep ends 30 ms after it should, as timers do on a loaded machine.
    const clock = { now: () => virtual.now(), sleep: (ms: number, signal?: AbortSignal) => virtual.sleep(ms + 30, signal) };
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 20, smooth: true, leadMs: 60 });
    (await limiter.acquire()).depart();
    const waited = await limiter.acquire();
    expect([waited.grantedAt, waited.notBefore]).toEqual([174, 204]);
    await virtual.sleep(224 - virtual.now());
    waited.depart();
    expect(limiter.windowMs).toBe(1020 + 20);
  });

  it('a slot free when asked for that leaves within its preparation time after a late one keeps the earlier lateness', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 20, smooth: true, leadMs: 60 });
    const first = await limiter.acquire();
    await clock.sleep(100);
    first.depart();
    expect(limiter.windowMs).toBe(1060);
    await clock.sleep(1000);
    const free = await limiter.acquire();
    expect(free.notBefore).toBe(clock.now());
    await clock.sleep(60);
    free.depart();
    expect(limiter.windowMs).toBe(1060);
  });
});

describe('RateLimiter configuration', () => {
  it('refuses a limit below one (or not a number) and floors a fractional one', () => {
    const clock = new VirtualClock(0);
    expect(() => new RateLimiter({ limit: 0, clock })).toThrow(new RangeError('rate limit must be at least 1'));
    expect(() => new RateLimiter({ limit: 0.99, clock })).toThrow(RangeError);
    expect(() => new RateLimiter({ limit: Number.NaN, clock })).toThrow(RangeError);
    expect(new RateLimiter({ limit: 1, clock }).limit).toBe(1);
    expect(new RateLimiter({ limit: 2.7, clock }).limit).toBe(2);
  });

  it('perSecond: a rate of one or more is that many a second, a fractional one a longer window, the margin on top of either', () => {
    const clock = new VirtualClock(0);
    const cases = [
      [5, 0, 5, 1000],
      [2.7, 0, 2, 1000],
      [1, 0, 1, 1000],
      [0.5, 0, 1, 2000],
      [0.5, 25, 1, 2025],
      [0.3, 0, 1, 3334],
      [5, 40, 5, 1040],
    ] as const;
    for (const [rate, marginMs, limit, windowMs] of cases) {
      const limiter = RateLimiter.perSecond(rate, clock, { marginMs });
      expect([limiter.limit, limiter.windowMs], `rate ${rate}, margin ${marginMs}`).toEqual([limit, windowMs]);
    }
  });

  it('remembers only the departures inside the window: a long-running serve does not grow with its history', async () => {
    const clock = new VirtualClock(0);
    const limiter = new RateLimiter({ limit: 5, clock });
    const remembered = (): number => (limiter as unknown as { departures: number[] }).departures.length;
    for (let i = 0; i < 500; i++) (await limiter.acquire()).depart();
    expect(clock.now()).toBe(99_000);
    expect(remembered()).toBe(5);
    // A departure exactly one window old no longer counts, and is dropped.
    clock.advance(1000);
    expect(limiter.tryAcquire()).toBe(0);
    expect(remembered()).toBe(1);
  });

  it('with a lead, grants that long before the instant a request may leave, and says when that is', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { smooth: true, leadMs: 100 });
    const granted: number[] = [];
    const notBefore: number[] = [];
    for (let i = 0; i < 4; i++) {
      const slot = await limiter.acquire();
      granted.push(slot.grantedAt);
      notBefore.push(slot.notBefore);
      // The transport holds the request until its instant, then it leaves.
      await clock.sleep(slot.notBefore - clock.now());
      slot.depart();
    }
    expect(granted).toEqual([0, 100, 300, 500]);
    expect(notBefore).toEqual([0, 200, 400, 600]);
  });
});

describe('RateLimiter smooth plan after a late departure', () => {
  /**
   * Sends `count` requests the way push does (the next slot asked for as soon as one is granted,
   * each request held until its notBefore by the transport), each leaving `late(k)` ms after its
   * instant. Returns each request's notBefore and actual departure.
   */
  async function paced(limiter: RateLimiter, clock: VirtualClock, count: number, late: (k: number) => number): Promise<{ planned: number[]; departed: number[] }> {
    const planned: number[] = [];
    const departed: number[] = [];
    const leaving: Promise<void>[] = [];
    for (let k = 0; k < count; k++) {
      const slot = await limiter.acquire();
      planned.push(slot.notBefore);
      leaving.push(
        (async () => {
          await clock.sleep(slot.notBefore + late(k) - clock.now());
          departed[k] = clock.now();
          slot.depart();
        })(),
      );
    }
    await Promise.all(leaving);
    return { planned, departed };
  }

  it('one late departure pushes back only every `limit`-th request after it; the ones between keep to the plan', async () => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 20, smooth: true });
    const { planned, departed } = await paced(limiter, clock, 14, (k) => (k === 3 ? 30 : 0));
    expect(departed[3]).toBe(3 * 204 + 30);
    // Request 8 may not leave until request 3 is a whole window old: 30 ms after its plan.
    expect(planned[8]).toBe(departed[3]! + 1020);
    // Requests 9 to 12 on their plan again (before: 30 ms late, and every request after them);
    // request 13 waits for request 8 to be a whole window old, as 8 did for 3.
    expect(planned.slice(9)).toEqual([9, 10, 11, 12].map((k) => k * 204).concat(13 * 204 + 30));
    expect(maxInAnyWindow(departed, 1020)).toBe(5);
  });

  // 100 ms past the plan (204) is already more than the 40.8 a later request could make up.
  it.each([
    ['longer than a spacing (a pause, an empty queue)', 1500, [1500, 1704]],
    ['past the catch-up allowance but short of a spacing', 304, [304, 508]],
  ])('a delay %s starts the plan afresh from it: no burst to make up for it', async (_delay, pausedUntil, expected) => {
    const clock = new VirtualClock(0);
    const limiter = RateLimiter.perSecond(5, clock, { marginMs: 20, smooth: true });
    (await limiter.acquire()).depart();
    limiter.pauseUntil(pausedUntil);
    const held = await limiter.acquire();
    held.depart();
    const next = await limiter.acquire();
    expect([held.notBefore, next.notBefore]).toEqual(expected);
  });

  it('never more than the limit in any window, and never two requests closer than CATCH_UP of a spacing, however late departures run (property)', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed);
      const clock = new VirtualClock(0);
      const limiter = RateLimiter.perSecond(5, clock, { marginMs: 20, smooth: true, leadMs: 60 });
      // Mostly on time, some a little late, a few very late (a busy machine, a stalled event loop).
      const late = (): number => {
        const u = random();
        return u < 0.6 ? random() : u < 0.9 ? random() * 10 : u < 0.97 ? random() * 60 : random() * 400;
      };
      const { departed } = await paced(limiter, clock, 120, late);
      // The platform counts arrivals: anything up to the 20 ms margin after the departure.
      const arrived = departed.map((at) => at + random() * 19.999);
      expect(maxInAnyWindow(departed, 1020), `seed ${seed}`).toBeLessThanOrEqual(5);
      expect(maxInAnyWindow(arrived, 1000), `seed ${seed}`).toBeLessThanOrEqual(5);
      const gaps = departed.slice(1).map((at, k) => at - departed[k]!);
      expect(Math.min(...gaps), `seed ${seed}`).toBeGreaterThanOrEqual(CATCH_UP * 204 - 1e-9);
    }
  });
});
