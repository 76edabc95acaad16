import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CANCEL, DEPART, GRANT, PAUSE } from '../../src/quota/scripts.js';
import { REDIS_SERVER, SKIP_REDIS_MESSAGE, startRedis, type TestRedis } from '../helpers/redis-server.js';

const KEYS = ['q:log', 'q:pending', 'q:pause', 'q:epoch', 'q:plan'] as const;
const [LOG, PENDING, PAUSED, EPOCH, PLAN] = KEYS;

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

  interface GrantArgs {
    limit?: number;
    windowMs?: number;
    smooth?: boolean;
    leadMs?: number;
    leaseMs?: number;
    id?: string;
    catchUp?: number;
  }

  async function grant({ limit = 2, windowMs = 1000, smooth = false, leadMs = 0, leaseMs = 5000, id = 'slot', catchUp = 0.8 }: GrantArgs = {}): Promise<[number, number]> {
    const [granted, wait] = (await redis.eval(GRANT, 5, ...KEYS, limit, windowMs, smooth ? 1 : 0, leadMs, leaseMs, id, catchUp)) as [number, string];
    return [granted, Number(wait)];
  }

  /** A store that has been running: its epoch marker is there. */
  const running = (): Promise<unknown> => redis.set(EPOCH, '1', 'PX', 60_000);

  it('a fresh store grants nothing for one window, and remembers that it started', async () => {
    const before = await now();
    const [granted, wait] = await grant({ windowMs: 1000 });
    const after = await now();
    expect(granted).toBe(0);
    expect(wait).toBeGreaterThan(1000 - SLACK);
    expect(wait).toBeLessThanOrEqual(1000 + 1);
    expect(Number(await redis.get(EPOCH))).toBeGreaterThanOrEqual(Math.floor(before));
    expect(Number(await redis.get(EPOCH))).toBeLessThanOrEqual(after + 1);
    expect(await redis.pttl(EPOCH)).toBeGreaterThan(86_400_000 - SLACK);
    expect(Number(await redis.get(PAUSED))).toBeGreaterThanOrEqual(Math.floor(before) + 1000);
    expect(Number(await redis.get(PAUSED))).toBeLessThanOrEqual(after + 1000 + 1);
    expect(await redis.pttl(PAUSED)).toBeGreaterThan(2000 - SLACK);
    expect(await redis.pttl(PAUSED)).toBeLessThanOrEqual(2000 + 1);
    expect(await redis.zcard(PENDING)).toBe(0);
  });

  it('a fresh store keeps a longer pause already in force', async () => {
    await redis.set(PAUSED, String((await now()) + 5000));
    const pause = await redis.get(PAUSED);
    const [granted, wait] = await grant({ windowMs: 1000 });
    expect(granted).toBe(0);
    expect(wait).toBeGreaterThan(5000 - SLACK);
    expect(await redis.get(PAUSED)).toBe(pause);
  });

  it('a running store grants at once and holds the slot as pending, with its keys expiring after window + lease + 1 s', async () => {
    await running();
    const before = await now();
    expect(await grant({ id: 'a', windowMs: 1000, leaseMs: 5000 })).toEqual([1, 0]);
    const after = await now();
    const score = Number(await redis.zscore(PENDING, 'a'));
    expect(score).toBeGreaterThanOrEqual(Math.floor(before));
    expect(score).toBeLessThanOrEqual(after);
    expect(Math.abs(Number(await redis.get(PLAN)) - score)).toBeLessThan(1);
    expect(await redis.pttl(PENDING)).toBeGreaterThan(7000 - SLACK);
    expect(await redis.pttl(PENDING)).toBeLessThanOrEqual(7000 + 1);
    expect(await redis.pttl(PLAN)).toBeGreaterThan(7000 - SLACK);
    expect(await redis.pttl(EPOCH)).toBeGreaterThan(86_400_000 - SLACK);
  });

  it('at the limit, waits until the oldest departure inside the window is a window old', async () => {
    await running();
    const t = await now();
    await redis.zadd(LOG, t - 5000, 'gone', t - 300, 'x', t - 200, 'y', t - 100, 'z');
    const [granted, wait] = await grant({ limit: 2, windowMs: 1000 });
    expect(granted).toBe(0);
    // The 2nd newest (t − 200) frees its place at t + 800; the one outside the window is dropped.
    expect(wait).toBeGreaterThan(800 - SLACK);
    expect(wait).toBeLessThanOrEqual(800 + 1);
    expect(await redis.zscore(LOG, 'gone')).toBeNull();
    expect(await redis.zcard(LOG)).toBe(3);
  });

  it('below the limit, grants', async () => {
    await running();
    const t = await now();
    await redis.zadd(LOG, t - 200, 'x', t - 100, 'y');
    expect(await grant({ limit: 3, windowMs: 1000 })).toEqual([1, 0]);
  });

  it('a pending slot counts as leaving at its notBefore, or now if that has passed', async () => {
    await running();
    const t = await now();
    await redis.zadd(PENDING, t + 300, 'later');
    const [, waitLater] = await grant({ limit: 1, windowMs: 1000 });
    expect(waitLater).toBeGreaterThan(1300 - SLACK);
    expect(waitLater).toBeLessThanOrEqual(1300 + 1);

    await redis.del(PENDING);
    await redis.zadd(PENDING, t - 400, 'late');
    const [, waitLate] = await grant({ limit: 1, windowMs: 1000 });
    expect(waitLate).toBeGreaterThan(1000 - SLACK);
    expect(waitLate).toBeLessThanOrEqual(1000 + 1);
  });

  it('a slot pending past its lease counts as having left at the end of the lease', async () => {
    await running();
    const t = await now();
    await redis.zadd(PENDING, t - 5300, 'crashed');
    const [granted, wait] = await grant({ limit: 1, windowMs: 1000, leaseMs: 5000 });
    expect(await redis.zscore(PENDING, 'crashed')).toBeNull();
    expect(Number(await redis.zscore(LOG, 'crashed'))).toBe(t - 300);
    expect(granted).toBe(0);
    expect(wait).toBeGreaterThan(700 - SLACK);
    expect(wait).toBeLessThanOrEqual(700 + 1);
  });

  it('smooth: the next grant is planned a spacing (window / limit) after the last one', async () => {
    await running();
    const t = await now();
    await redis.set(PLAN, String(t + 100));
    const [granted, wait] = await grant({ limit: 2, windowMs: 1000, smooth: true });
    expect(granted).toBe(0);
    expect(wait).toBeGreaterThan(600 - SLACK);
    expect(wait).toBeLessThanOrEqual(600 + 1);
  });

  it('smooth: at least the catch-up share of a spacing after the last departure', async () => {
    await running();
    const t = await now();
    await redis.zadd(LOG, t - 100, 'x');
    const [granted, wait] = await grant({ limit: 2, windowMs: 1000, smooth: true, catchUp: 0.8 });
    expect(granted).toBe(0);
    expect(wait).toBeGreaterThan(300 - SLACK);
    expect(wait).toBeLessThanOrEqual(300 + 1);
  });

  it('within the lead, grants early: the slot and the plan are at now + wait', async () => {
    await running();
    const t = await now();
    await redis.set(PLAN, String(t + 100));
    const [granted, wait] = await grant({ id: 'early', limit: 2, windowMs: 1000, smooth: true, leadMs: 700 });
    expect(granted).toBe(1);
    expect(wait).toBeGreaterThan(600 - SLACK);
    expect(wait).toBeLessThanOrEqual(600 + 1);
    expect(Math.abs(Number(await redis.zscore(PENDING, 'early')) - (t + 600))).toBeLessThan(SLACK);
    expect(Math.abs(Number(await redis.get(PLAN)) - (t + 600))).toBeLessThan(SLACK);
  });

  it('DEPART moves the slot from pending to the log at now, never earlier than a later departure', async () => {
    await redis.zadd(PENDING, 1, 'a');
    const before = await now();
    expect(await redis.eval(DEPART, 5, ...KEYS, 'a')).toBe(1);
    const after = await now();
    expect(await redis.zscore(PENDING, 'a')).toBeNull();
    const departed = Number(await redis.zscore(LOG, 'a'));
    expect(departed).toBeGreaterThanOrEqual(Math.floor(before));
    expect(departed).toBeLessThanOrEqual(after);

    await redis.zadd(LOG, after + 10_000, 'b');
    await redis.eval(DEPART, 5, ...KEYS, 'b');
    expect(Number(await redis.zscore(LOG, 'b'))).toBe(after + 10_000);
  });

  it('CANCEL forgets the pending slot and logs nothing', async () => {
    await redis.zadd(PENDING, 1, 'a', 2, 'b');
    expect(await redis.eval(CANCEL, 5, ...KEYS, 'a')).toBe(1);
    expect(await redis.zrange(PENDING, 0, -1)).toEqual(['b']);
    expect(await redis.exists(LOG)).toBe(0);
  });

  it('PAUSE holds everyone until now + delay, expiring a second after, and never shortens a longer pause', async () => {
    const before = await now();
    expect(await redis.eval(PAUSE, 5, ...KEYS, 2000)).toBe(1);
    const after = await now();
    expect(Number(await redis.get(PAUSED))).toBeGreaterThanOrEqual(Math.floor(before) + 2000);
    expect(Number(await redis.get(PAUSED))).toBeLessThanOrEqual(after + 2000 + 1);
    expect(await redis.pttl(PAUSED)).toBeGreaterThan(3000 - SLACK);
    expect(await redis.pttl(PAUSED)).toBeLessThanOrEqual(3000 + 1);
    const longer = await redis.get(PAUSED);
    await redis.eval(PAUSE, 5, ...KEYS, 500);
    expect(await redis.get(PAUSED)).toBe(longer);

    await running();
    const [granted, wait] = await grant();
    expect(granted).toBe(0);
    expect(wait).toBeGreaterThan(2000 - SLACK);
  });
});
