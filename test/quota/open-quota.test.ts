import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { RateLimiter } from '../../src/engine/rate-limiter.js';
import { openQuota, type QuotaOptions } from '../../src/quota/open-quota.js';
import { RedisQuota } from '../../src/quota/redis-quota.js';
import { memoryLogger } from '../helpers/logger.js';
import { REDIS_SERVER, SKIP_REDIS_MESSAGE, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

const options: QuotaOptions = { rate: 2, smooth: true, marginMs: 50, leadMs: 20, remoteUrl: 'https://API.example:8443/v1/profiles', giveUpAfterMs: 0 };
/** No DNS in tests: api.example is one address of the documentation range. */
const lookup = async (hostname: string) => (hostname === 'api.example' ? [{ address: '203.0.113.9' }] : []);

describe('openQuota without a Redis URL', () => {
  it('keeps the limit in this process, with the given rate, margin, smoothing and lead, on the given clock', async () => {
    const { logger, lines } = await memoryLogger();
    const clock = new VirtualClock();
    const quota = await openQuota(options, { logger, clock });
    expect(quota.limiter).toBeInstanceOf(RateLimiter);
    expect((quota.limiter as RateLimiter).limit).toBe(2);
    expect(quota.limiter.windowMs).toBe(1050);
    expect(quota.describe()).toStrictEqual({ backend: 'in-process' });
    expect(await quota.probe(0)).toBe(true); // nothing to wait for

    const start = clock.now();
    const first = await quota.limiter.acquire();
    first.depart();
    const second = await quota.limiter.acquire();
    // Smooth: the second is planned half a window (525 ms) after the first, granted 20 ms (the lead) before it.
    expect(first.grantedAt).toBe(start);
    expect(second.notBefore - first.notBefore).toBe(525);
    expect(second.notBefore - second.grantedAt).toBe(20);
    await expect(quota.close()).resolves.toBeUndefined();
    expect(lines()).toStrictEqual([]);
  });
});

describe.skipIf(!REDIS_SERVER)(`openQuota with a Redis URL${REDIS_SERVER ? '' : ` (${SKIP_REDIS_MESSAGE})`}`, () => {
  let redis: TestRedis;
  let observer: Redis;
  beforeEach(async () => {
    redis = await startRedis();
    observer = new Redis(redis.url);
  });
  afterEach(async () => {
    observer.disconnect();
    await redis.stop();
  });

  const clients = async (): Promise<number> => String(await observer.client('LIST')).trim().split('\n').length;

  it('shares the limit through Redis under the remote\'s canonical origin (its addresses), says so once, and closes its connection', async () => {
    const { logger, lines } = await memoryLogger();
    const quota = await openQuota({ ...options, redisUrl: redis.url }, { logger, clock: new VirtualClock(), lookup });
    expect(quota.limiter).toBeInstanceOf(RedisQuota);
    expect((quota.limiter as RedisQuota).limit).toBe(2);
    expect(quota.limiter.windowMs).toBe(1050);
    expect(quota.describe()).toStrictEqual({ backend: 'redis', key: 'https://203.0.113.9:8443', state: 'connected' });
    expect(lines()).toMatchObject([
      { level: 'info', stage: 'run', quota: 'redis', quotaKey: 'https://203.0.113.9:8443', msg: `rate limit shared through Redis at ${redis.url}, key https://203.0.113.9:8443` },
    ]);
    expect(await clients()).toBe(2);
    await quota.close();
    for (let i = 0; i < 40 && (await clients()) > 1; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(await clients()).toBe(1);
  });

  it('--quota-key names the shared budget instead of the origin or the credential', async () => {
    const { logger } = await memoryLogger();
    const quota = await openQuota({ ...options, redisUrl: redis.url, quotaKey: 'team-a', credential: 's3cret-token' }, { logger, lookup });
    expect(quota.describe()).toStrictEqual({ backend: 'redis', key: 'team-a', state: 'connected' });
    await quota.close();
  });

  it('with a credential for the remote, the budget is named after its fingerprint, never the credential itself', async () => {
    const { logger, lines } = await memoryLogger();
    const quota = await openQuota({ ...options, redisUrl: redis.url, credential: 's3cret-token' }, { logger, lookup });
    const key = `token:${createHash('sha256').update('s3cret-token').digest('hex').slice(0, 16)}`;
    expect(quota.describe()).toStrictEqual({ backend: 'redis', key, state: 'connected' });
    expect(lines()).toMatchObject([{ quotaKey: key }]);
    expect(JSON.stringify(lines())).not.toContain('s3cret');
    expect((await observer.keys('*')).join(' ')).not.toContain('s3cret');
    await quota.close();
  });

  it('another --rate on a key in use is a usage error before anything is sent', async () => {
    const { logger } = await memoryLogger();
    const first = await openQuota({ ...options, redisUrl: redis.url }, { logger, lookup });
    await expect(openQuota({ ...options, rate: 3, remoteUrl: 'https://203.0.113.9:8443', redisUrl: redis.url }, { logger, lookup })).rejects.toThrow(
      new UsageError('--rate 3: the shared quota "https://203.0.113.9:8443" is in use at --rate 2 by another process (one that died keeps its claim for up to 30 s); use the same --rate or another --quota-key'),
    );
    await first.close();
  });

  it('a URL that is not a Redis URL is a usage error before any connection', async () => {
    const { logger } = await memoryLogger();
    await expect(openQuota({ ...options, redisUrl: `http://127.0.0.1:${redis.port}` }, { logger })).rejects.toThrow(
      new UsageError('--redis-url: expected a redis:// or rediss:// URL'),
    );
    expect(await clients()).toBe(1);
  });
});
