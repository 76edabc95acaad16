import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CANCEL, CLAIM, DEPART, GRANT, PAUSE, RELEASE } from '../../src/quota/scripts.js';
import { REDIS_SERVER, SKIP_REDIS_MESSAGE, startRedis, type TestRedis } from '../helpers/redis-server.js';

const KEYS = ['q:log', 'q:pending', 'q:pause', 'q:epoch', 'q:plan', 'q:holders'] as const;
const [LOG, PENDING, PAUSED, EPOCH, PLAN, HOLDERS] = KEYS;

// The scripts read Redis's own clock, so times are checked against TIME read around each call:
// a few ms of slack, where a wrong formula would be off by a window or a lease. Lua's tostring
// keeps 14 digits, so a time stored as text is within 1 ms of the one computed.
const SLACK = 50;

describe.skipIf(!REDIS_SERVER)(`the quota scripts in a real redis-server${REDIS_SERVER ? '' : ` (${SKIP_REDIS_MESSAGE})`}`, () => {
  let server: TestRedis;
  let redis: Redis;
  beforeEach(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterEach(async () => {
    redis.disconnect();
    await server.stop();
  });

  async function now(): Promise<number> {
    const [seconds, micros] = await redis.time();
    return Number(seconds) * 1000 + Number(micros) / 1000;
  }

  /**
   * `key` was given `ttlMs` to live at some moment after `since` (Redis time, ms): its TTL now is at
   * most `ttlMs` and at least `ttlMs` less the time passed since then. A fixed 50 ms slack failed when
   * the reads after the script were slow (1945 for a TTL of 2000, on an overloaded machine); the
   * time that really passed keeps the check exact (a TTL set too short still fails) on any machine.
   */
  async function expectTtl(key: string, ttlMs: number, since: number): Promise<void> {
    const ttl = await redis.pttl(key);
    const elapsed = (await now()) - since;
    expect(ttl, `${key}'s TTL`).toBeLessThanOrEqual(ttlMs + 1);
    expect(ttl, `${key}'s TTL, ${Math.round(elapsed)} ms after it was set`).toBeGreaterThanOrEqual(ttlMs - Math.ceil(elapsed) - 1);
  }

  /**
   * A GRANT's `wait` for a state set up `expectedMs` ahead of `since` (Redis time, ms): the script
   * counts from its own now, so the wait is `expectedMs` less the time passed between `since` and
   * the script, at most `expectedMs`. A fixed 50 ms slack failed when that time was longer (598 for
   * 700 - 50: an overloaded 2-core machine).
   */
  async function expectWaitSince(wait: number, expectedMs: number, since: number): Promise<void> {
    const elapsed = (await now()) - since;
    expect(wait, `wait, ${Math.round(elapsed)} ms after the state was set`).toBeGreaterThanOrEqual(expectedMs - Math.ceil(elapsed) - 1);
  }

  interface GrantArgs {
    /** The caller's --rate (its limit and window follow from it unless another holder's is lower). */
    rate?: number;
    limit?: number;
    extraMs?: number;
    smooth?: boolean;
    leadMs?: number;
    leaseMs?: number;
    id?: string;
    catchUp?: number;
    holder?: string;
    claimTtlMs?: number;
  }

  /** GRANT as RedisQuota calls it: [granted, wait, the rate in force]. */
  async function grantWithRate({
    rate = 2,
    limit = Math.max(1, Math.floor(rate)),
    extraMs = 0,
    smooth = false,
    leadMs = 0,
    leaseMs = 5000,
    id = 'slot',
    catchUp = 0.8,
    holder = 'p1',
    claimTtlMs = 30_000,
  }: GrantArgs = {}): Promise<[number, number, string]> {
    const [granted, wait, inForce] = (await redis.eval(GRANT, 6, ...KEYS, limit, extraMs, smooth ? 1 : 0, leadMs, leaseMs, id, catchUp, String(rate), holder, claimTtlMs)) as [number, string, string];
    return [granted, Number(wait), inForce];
  }

  async function grant(args: GrantArgs = {}): Promise<[number, number]> {
    const [granted, wait] = await grantWithRate(args);
    return [granted, wait];
  }

  /** A store that has been running: its epoch marker is there. */
  const running = (): Promise<unknown> => redis.set(EPOCH, '1', 'PX', 60_000);

  it('a fresh store grants nothing for one window, and remembers that it started', async () => {
    const before = await now();
    const [granted, wait] = await grant({ rate: 2 });
    const after = await now();
    expect(granted).toBe(0);
    await expectWaitSince(wait, 1000, before);
    expect(wait).toBeLessThanOrEqual(1000 + 1);
    expect(Number(await redis.get(EPOCH))).toBeGreaterThanOrEqual(Math.floor(before));
    expect(Number(await redis.get(EPOCH))).toBeLessThanOrEqual(after + 1);
    await expectTtl(EPOCH, 86_400_000, before);
    expect(Number(await redis.get(PAUSED))).toBeGreaterThanOrEqual(Math.floor(before) + 1000);
    expect(Number(await redis.get(PAUSED))).toBeLessThanOrEqual(after + 1000 + 1);
    await expectTtl(PAUSED, 2000, before);
    expect(await redis.zcard(PENDING)).toBe(0);
  });

  it('a fresh store keeps a longer pause already in force', async () => {
    const t = await now();
    await redis.set(PAUSED, String(t + 5000));
    const pause = await redis.get(PAUSED);
    const [granted, wait] = await grant({ rate: 2 });
    expect(granted).toBe(0);
    await expectWaitSince(wait, 5000, t);
    expect(await redis.get(PAUSED)).toBe(pause);
  });

  it('a running store grants at once and holds the slot as pending, with its keys expiring after window + lease + 1 s', async () => {
    await running();
    const before = await now();
    expect(await grant({ id: 'a', rate: 2, leaseMs: 5000 })).toEqual([1, 0]);
    const after = await now();
    const score = Number(await redis.zscore(PENDING, 'a'));
    expect(score).toBeGreaterThanOrEqual(Math.floor(before));
    expect(score).toBeLessThanOrEqual(after);
    expect(Math.abs(Number(await redis.get(PLAN)) - score)).toBeLessThan(1);
    await expectTtl(PENDING, 7000, before);
    await expectTtl(PLAN, 7000, before);
    await expectTtl(EPOCH, 86_400_000, before);
  });

  it('at the limit, waits until the oldest departure inside the window is a window old', async () => {
    await running();
    const t = await now();
    await redis.zadd(LOG, t - 5000, 'gone', t - 300, 'x', t - 200, 'y', t - 100, 'z');
    const [granted, wait] = await grant({ rate: 2 });
    expect(granted).toBe(0);
    // The 2nd newest (t − 200) frees its place at t + 800; the one outside the window is dropped.
    await expectWaitSince(wait, 800, t);
    expect(wait).toBeLessThanOrEqual(800 + 1);
    expect(await redis.zscore(LOG, 'gone')).toBeNull();
    expect(await redis.zcard(LOG)).toBe(3);
  });

  it('below the limit, grants', async () => {
    await running();
    const t = await now();
    await redis.zadd(LOG, t - 200, 'x', t - 100, 'y');
    expect(await grant({ rate: 3 })).toEqual([1, 0]);
  });

  it('a pending slot counts as leaving at its notBefore, or now if that has passed', async () => {
    await running();
    const t = await now();
    await redis.zadd(PENDING, t + 300, 'later');
    const [, waitLater] = await grant({ rate: 1 });
    await expectWaitSince(waitLater, 1300, t);
    expect(waitLater).toBeLessThanOrEqual(1300 + 1);

    await redis.del(PENDING);
    await redis.zadd(PENDING, t - 400, 'late');
    const [, waitLate] = await grant({ rate: 1 });
    await expectWaitSince(waitLate, 1000, t);
    expect(waitLate).toBeLessThanOrEqual(1000 + 1);
  });

  it('a slot pending past its lease counts as having left at the end of the lease', async () => {
    await running();
    const t = await now();
    await redis.zadd(PENDING, t - 5300, 'crashed');
    const [granted, wait] = await grant({ rate: 1, leaseMs: 5000 });
    expect(await redis.zscore(PENDING, 'crashed')).toBeNull();
    expect(Number(await redis.zscore(LOG, 'crashed'))).toBe(t - 300);
    expect(granted).toBe(0);
    await expectWaitSince(wait, 700, t);
    expect(wait).toBeLessThanOrEqual(700 + 1);
  });

  it('smooth: the next grant is planned a spacing (window / limit) after the last one', async () => {
    await running();
    const t = await now();
    await redis.set(PLAN, String(t + 100));
    const [granted, wait] = await grant({ rate: 2, smooth: true });
    expect(granted).toBe(0);
    await expectWaitSince(wait, 600, t);
    expect(wait).toBeLessThanOrEqual(600 + 1);
  });

  it('smooth: at least the catch-up share of a spacing after the last departure', async () => {
    await running();
    const t = await now();
    await redis.zadd(LOG, t - 100, 'x');
    const [granted, wait] = await grant({ rate: 2, smooth: true, catchUp: 0.8 });
    expect(granted).toBe(0);
    await expectWaitSince(wait, 300, t);
    expect(wait).toBeLessThanOrEqual(300 + 1);
  });

  it('within the lead, grants early: the slot and the plan are at now + wait', async () => {
    await running();
    const t = await now();
    await redis.set(PLAN, String(t + 100));
    const [granted, wait] = await grant({ id: 'early', rate: 2, smooth: true, leadMs: 700 });
    expect(granted).toBe(1);
    await expectWaitSince(wait, 600, t);
    expect(wait).toBeLessThanOrEqual(600 + 1);
    expect(Math.abs(Number(await redis.zscore(PENDING, 'early')) - (t + 600))).toBeLessThan(SLACK);
    expect(Math.abs(Number(await redis.get(PLAN)) - (t + 600))).toBeLessThan(SLACK);
  });

  it('DEPART moves the slot from pending to the log at now, never earlier than a later departure', async () => {
    await redis.zadd(PENDING, 1, 'a');
    const before = await now();
    expect(await redis.eval(DEPART, 6, ...KEYS, 'a')).toBe(1);
    const after = await now();
    expect(await redis.zscore(PENDING, 'a')).toBeNull();
    const departed = Number(await redis.zscore(LOG, 'a'));
    expect(departed).toBeGreaterThanOrEqual(Math.floor(before));
    expect(departed).toBeLessThanOrEqual(after);

    await redis.zadd(LOG, after + 10_000, 'b');
    await redis.eval(DEPART, 6, ...KEYS, 'b');
    expect(Number(await redis.zscore(LOG, 'b'))).toBe(after + 10_000);
  });

  it('CANCEL forgets the pending slot and logs nothing', async () => {
    await redis.zadd(PENDING, 1, 'a', 2, 'b');
    expect(await redis.eval(CANCEL, 6, ...KEYS, 'a')).toBe(1);
    expect(await redis.zrange(PENDING, 0, -1)).toEqual(['b']);
    expect(await redis.exists(LOG)).toBe(0);
  });

  it('PAUSE holds everyone until now + delay, expiring a second after, and never shortens a longer pause', async () => {
    const before = await now();
    expect(await redis.eval(PAUSE, 6, ...KEYS, 2000)).toBe(1);
    const after = await now();
    expect(Number(await redis.get(PAUSED))).toBeGreaterThanOrEqual(Math.floor(before) + 2000);
    expect(Number(await redis.get(PAUSED))).toBeLessThanOrEqual(after + 2000 + 1);
    await expectTtl(PAUSED, 3000, before);
    const longer = await redis.get(PAUSED);
    await redis.eval(PAUSE, 6, ...KEYS, 500);
    expect(await redis.get(PAUSED)).toBe(longer);

    await running();
    const [granted, wait] = await grant();
    expect(granted).toBe(0);
    await expectWaitSince(wait, 2000, before);
  });
  describe('the key\'s rate: claimed at start, renewed, enforced by every grant', () => {
    const claim = async (rate: string, holder: string, { ttl = 30_000, strict = true } = {}): Promise<[number, string]> =>
      (await redis.eval(CLAIM, 6, ...KEYS, rate, holder, ttl, strict ? 1 : 0)) as [number, string];
    const members = async (): Promise<string[]> => (await redis.zrange(HOLDERS, 0, -1)).sort();

    it('the first claim holds the key at its rate until now + ttl; the set expires with its last claim', async () => {
      const before = await now();
      expect(await claim('5', 'a', { ttl: 30_000 })).toEqual([1, '5']);
      const after = await now();
      expect(await members()).toEqual(['5/a']);
      const lapses = Number(await redis.zscore(HOLDERS, '5/a'));
      expect(lapses).toBeGreaterThanOrEqual(Math.floor(before) + 30_000);
      expect(lapses).toBeLessThanOrEqual(after + 30_000 + 1);
      await expectTtl(HOLDERS, 30_000, before);
      // A shorter claim after a longer one does not cut the longer one's life.
      expect(await claim('5', 'b', { ttl: 1_000 })).toEqual([1, '5']);
      await expectTtl(HOLDERS, 30_000, before);
    });

    it('at start, another rate on a key in use is refused with the rate in force, and claims nothing; the same rate (however written) is welcome', async () => {
      await claim('5', 'a');
      expect(await claim('20', 'b')).toEqual([0, '5']);
      expect(await claim('4.5', 'c')).toEqual([0, '5']);
      expect(await claim('5.0', 'd')).toEqual([1, '5']);
      expect(await members()).toEqual(['5.0/d', '5/a']);
    });

    it('a lapsed claim holds nothing: the key is free for another rate', async () => {
      await redis.zadd(HOLDERS, (await now()) - 1, '5/gone');
      expect(await claim('20', 'b')).toEqual([1, '20']);
      expect(await members()).toEqual(['20/b']);
    });

    it('the heartbeat (not strict) renews in any case and answers the lowest rate any live holder asked for', async () => {
      await claim('5', 'a');
      expect(await claim('20', 'b', { strict: false })).toEqual([1, '5']);
      expect(await claim('0.5', 'c', { strict: false })).toEqual([1, '0.5']);
      const before = Number(await redis.zscore(HOLDERS, '5/a'));
      expect(await claim('5', 'a', { strict: false, ttl: 60_000 })).toEqual([1, '0.5']);
      expect(Number(await redis.zscore(HOLDERS, '5/a'))).toBeGreaterThan(before + 29_000);
      expect(await members()).toEqual(['0.5/c', '20/b', '5/a']);
    });

    it('RELEASE ends one claim; the last one gone, the key is free', async () => {
      await claim('5', 'a');
      await claim('5', 'b');
      expect(await redis.eval(RELEASE, 6, ...KEYS, '5', 'a')).toBe(1);
      expect(await members()).toEqual(['5/b']);
      expect(await claim('20', 'c')).toEqual([0, '5']);
      await redis.eval(RELEASE, 6, ...KEYS, '5', 'b');
      expect(await redis.exists(HOLDERS)).toBe(0);
      expect(await claim('20', 'c')).toEqual([1, '20']);
    });

    it('a caller asking for a higher rate than the key\'s still gets at most the key\'s rate of grants', async () => {
      await running();
      await claim('5', 'a');
      const t = await now();
      await redis.zadd(LOG, t - 500, 'x1', t - 400, 'x2', t - 300, 'x3', t - 200, 'x4', t - 100, 'x5');
      const [granted, wait, inForce] = await grantWithRate({ rate: 20, holder: 'b' });
      expect([granted, inForce]).toEqual([0, '5']);
      // The 5th newest (t − 500) frees its place at t + 500: a limit of 20 would have granted at once.
      await expectWaitSince(wait, 500, t);
      expect(wait).toBeLessThanOrEqual(500 + 1);
      await redis.zrem(LOG, 'x5');
      expect(await grantWithRate({ rate: 20, holder: 'b' })).toEqual([1, 0, '5']);
    });

    it('a fractional rate in force is one request per longer window (0.5/s: 2000 ms) for everyone, plus the caller\'s extra', async () => {
      await running();
      await claim('0.5', 'a');
      const t = await now();
      await redis.zadd(LOG, t - 1500, 'x');
      const [granted, wait, inForce] = await grantWithRate({ rate: 5, holder: 'b', extraMs: 50 });
      expect([granted, inForce]).toEqual([0, '0.5']);
      await expectWaitSince(wait, 550, t);
      expect(wait).toBeLessThanOrEqual(550 + 1);
      // The log is kept for the longer window, not cut to the caller's own 1000 ms.
      expect(await redis.zscore(LOG, 'x')).not.toBeNull();
    });

    it('a caller that slowed down (a lower limit than its rate) keeps its lower limit', async () => {
      await running();
      const t = await now();
      await redis.zadd(LOG, t - 200, 'x', t - 100, 'y');
      expect(await grant({ rate: 5, limit: 2 })).toEqual([0, expect.any(Number)]);
      expect((await grant({ rate: 5, limit: 3 }))[0]).toBe(1);
    });

    it('every grant renews its caller\'s claim: after Redis lost the claims, the first grant makes its rate count again', async () => {
      await running();
      expect(await redis.exists(HOLDERS)).toBe(0);
      const before = await now();
      expect(await grantWithRate({ rate: 5, holder: 'a', claimTtlMs: 30_000 })).toEqual([1, 0, '5']);
      expect(Number(await redis.zscore(HOLDERS, '5/a'))).toBeGreaterThanOrEqual(Math.floor(before) + 30_000);
      expect(await claim('20', 'b')).toEqual([0, '5']);
    });

    it('after lost claims, two rates on one key: the lower one paces everyone as soon as its holder is back', async () => {
      await running();
      // b started at 20 while a's claim was lost (Redis restarted); a (at 5) then renews.
      expect(await grantWithRate({ rate: 20, holder: 'b', id: 's1' })).toEqual([1, 0, '20']);
      expect(await claim('5', 'a', { strict: false })).toEqual([1, '5']);
      const t = await now();
      await redis.zadd(LOG, t - 400, 'x1', t - 300, 'x2', t - 200, 'x3', t - 100, 'x4');
      // s1 is pending too: 5 in the window.
      const [granted, , inForce] = await grantWithRate({ rate: 20, holder: 'b', id: 's2' });
      expect([granted, inForce]).toEqual([0, '5']);
    });

    it('a lapsed claim no longer lowers the rate', async () => {
      await running();
      await redis.zadd(HOLDERS, (await now()) - 1, '1/gone');
      expect(await grantWithRate({ rate: 5, holder: 'a' })).toEqual([1, 0, '5']);
      expect(await members()).toEqual(['5/a']);
    });
  });
});
