import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QuotaUnavailableError, UsageError } from '../../src/errors.js';
import { systemClock } from '../../src/engine/clock.js';
import { RedisQuota, type RedisQuotaOptions } from '../../src/quota/redis-quota.js';
import { memoryLogger } from '../helpers/logger.js';
import { REDIS_SERVER, SKIP_REDIS_MESSAGE, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { maxInAnyWindow } from '../helpers/windows.js';

// Real Redis (its TIME is the quota's clock), so these wait for real; each is bounded to a few seconds.
describe.skipIf(!REDIS_SERVER)(`RedisQuota against a real redis-server${REDIS_SERVER ? '' : ` (${SKIP_REDIS_MESSAGE})`}`, () => {
  let redis: TestRedis;
  const open: RedisQuota[] = [];
  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((quota) => quota.close()));
    await redis.stop();
  });

  async function quota(overrides: Partial<RedisQuotaOptions> = {}): Promise<RedisQuota> {
    const created = await RedisQuota.open({
      url: redis.url,
      key: 'test',
      rate: 5,
      marginMs: 0,
      smooth: false,
      leadMs: 0,
      giveUpAfterMs: 60_000,
      clock: systemClock,
      logger: (await memoryLogger()).logger,
      ...overrides,
    });
    open.push(created);
    return created;
  }

  it('two processes with the same key together never get more than the rate within any window', async () => {
    const [a, b] = [await quota(), await quota()];
    const departures: number[] = [];
    const take = async (limiter: RedisQuota, n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const slot = await limiter.acquire();
        departures.push(Date.now());
        slot.depart();
      }
    };
    const started = Date.now();
    await Promise.all([take(a, 6), take(b, 6)]);
    expect(departures).toHaveLength(12);
    expect(maxInAnyWindow(departures, 1000)).toBeLessThanOrEqual(5);
    // A fresh store first holds everyone for one window (it cannot know what was sent before it
    // started); then 12 grants at 5 per window need two more windows.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('a slot granted but not yet gone holds back the others until it leaves (departure pacing)', async () => {
    const [a, b] = [await quota({ smooth: true }), await quota({ smooth: true })];
    (await a.acquire()).depart(); // past the fresh-store window
    const held = await a.acquire();
    let bAt = 0;
    const next = b.acquire().then((slot) => ((bAt = Date.now()), slot.depart()));
    await new Promise((resolve) => setTimeout(resolve, 400));
    const departedAt = Date.now();
    held.depart();
    await next;
    // Not granted while `held` had not left (400 ms after its grant, past the 210 ms plan), and
    // then at least CATCH_UP (0.8) of a spacing after its departure.
    expect(bAt - departedAt).toBeGreaterThanOrEqual(100);
  });

  it('keys are separate budgets', async () => {
    const [a, b] = [await quota({ key: 'one', rate: 1 }), await quota({ key: 'two', rate: 1 })];
    (await a.acquire()).depart();
    const started = Date.now();
    (await b.acquire()).depart(); // its own fresh window, not a's slot
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('fails closed when Redis goes away: waits, logs once, gives up after giveUpAfterMs, resumes when it is back', async () => {
    const { logger, lines } = await memoryLogger();
    const limiter = await quota({ logger, giveUpAfterMs: 600 });
    (await limiter.acquire()).depart();
    await redis.kill();
    const started = Date.now();
    const error = await limiter.acquire().catch((caught) => caught);
    expect(error).toBeInstanceOf(QuotaUnavailableError);
    expect(error).toMatchObject({ errorClass: 'server', exitCode: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(limiter.state).toBe('unavailable');
    expect(lines().filter((l) => /rate quota lost/.test(String(l.msg)))).toHaveLength(1);

    await redis.restart();
    const restartedAt = Date.now();
    // It reconnects on its own (within about a second); until then it keeps refusing at once.
    for (let i = 0; i < 60 && limiter.state !== 'connected'; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const slot = await limiter.acquire();
    slot.depart();
    expect(limiter.state).toBe('connected');
    expect(lines().filter((l) => /rate quota back/.test(String(l.msg)))).toHaveLength(1);
    // The restarted store remembers nothing: it holds everyone for a window before granting.
    expect(slot.grantedAt - restartedAt).toBeGreaterThanOrEqual(950);
  });

  it('unreachable at start is a usage error (exit 2) naming the URL without its password', async () => {
    await redis.kill();
    const error = await RedisQuota.open({
      url: `redis://:s3cret@127.0.0.1:${redis.port}`,
      key: 'test',
      rate: 5,
      marginMs: 0,
      smooth: false,
      leadMs: 0,
      giveUpAfterMs: 0,
      clock: systemClock,
      logger: (await memoryLogger()).logger,
    }).catch((caught) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toMatch(new RegExp(`cannot reach Redis at redis://:\\*\\*\\*@127.0.0.1:${redis.port}`));
    expect(error.message).not.toContain('s3cret');
  });
});
